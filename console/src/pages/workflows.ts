// Workflows: the Search, Create, Update and Timeline workflows a contact-center script
// (and the agent's card) runs; list, create, edit, delete, and run one to try it.
import { get, send } from "../api";
import { button, confirmButton, field, h, message, onSubmit, submit, table, values } from "../dom";
import type { FieldSpec } from "../dom";
import { Key, t } from "../i18n";
import { Page, at, str } from "./types";

type Doc = Record<string, unknown>;
const BASE = "/api/admin/workflows";
const one = (id: string): string => `${BASE}/${encodeURIComponent(id)}`;
const TYPES = ["search", "create", "update", "timeline"];
const list = (text: unknown): string[] => String(text ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const joined = (value: unknown): string => ((value as string[] | undefined) ?? []).join(", ");

/** Lines "name=value" <-> {name: value}. */
const pairs = (text: unknown): Record<string, string> =>
  Object.fromEntries(
    String(text ?? "").split("\n").map((line) => line.split("=")).filter((p) => p.length >= 2 && p[0].trim())
      .map(([k, ...v]) => [k.trim(), v.join("=").trim()]),
  );
const lines = (value: unknown): string =>
  Object.entries((value as Record<string, string> | undefined) ?? {}).map(([k, v]) => `${k}=${v}`).join("\n");
const criteriaText = (value: unknown): string =>
  ((value as Doc[] | undefined) ?? []).map((c) => [str(c, "by"), str(c, "input"), str(c, "field")].filter(Boolean).join(" ")).join("\n");
const criteria = (text: unknown): Doc[] =>
  String(text ?? "").split("\n").map((l) => l.trim().split(/\s+/)).filter((p) => p[0])
    .map(([by, input, fieldName]) => (fieldName ? { by, input, field: fieldName } : { by, input }));

const SPECS: Record<string, FieldSpec[]> = {
  search: [
    { path: "criteria", label: "wf.criteria", help: "wf.help.criteria", kind: "textarea", required: true },
    { path: "recordTypes", label: "wf.recordTypes", help: "wf.help.recordTypes" },
    { path: "limit", label: "wf.limit", kind: "number" },
  ],
  create: [
    {
      path: "variant",
      label: "wf.variant",
      help: "wf.help.variant",
      kind: "select",
      options: [
        { value: "standard", label: t("wf.variant.standard") },
        { value: "custom", label: t("wf.variant.custom") },
      ],
    },
    { path: "recordType", label: "wf.recordType", help: "wf.help.recordType.create", required: true },
    { path: "fields", label: "wf.fields", help: "wf.help.fields", required: true },
    { path: "required", label: "wf.required", help: "wf.help.required" },
    { path: "defaults", label: "wf.defaults", help: "wf.help.defaults", kind: "textarea" },
    { path: "relateToContact", label: "wf.relateToContact", kind: "check" },
    { path: "pin", label: "wf.pin", kind: "check" },
  ],
  update: [
    { path: "recordType", label: "wf.recordType", required: true },
    { path: "fields", label: "wf.fields", help: "wf.help.update_fields", required: true },
  ],
  timeline: [
    {
      path: "activityType",
      label: "wf.activityType",
      kind: "select",
      options: [
        { value: "task", label: t("mapping.timeline.task") },
        { value: "phonecall", label: t("mapping.timeline.phonecall") },
      ],
    },
    { path: "subject", label: "wf.subject" },
  ],
};

function shown(spec: FieldSpec, workflow: Doc | null): unknown {
  const value = at(workflow, spec.path);
  if (spec.path === "criteria") return criteriaText(value);
  if (spec.path === "defaults") return lines(value);
  if (Array.isArray(value)) return joined(value);
  if (spec.kind === "check") return workflow ? value !== false : true;
  return value ?? "";
}

function body(type: string, raw: Doc): Doc {
  const out: Doc = { ...raw, type };
  if (type === "search") out.criteria = criteria(raw.criteria);
  if ("recordTypes" in raw) out.recordTypes = list(raw.recordTypes);
  if (type === "create" || type === "update") {
    out.fields = list(raw.fields);
    if (type === "create") {
      out.required = list(raw.required);
      out.defaults = pairs(raw.defaults);
    }
  }
  return out;
}

function runBox(id: string): HTMLElement {
  const form = h("form", { class: "form", novalidate: true });
  const result = h("div", { "aria-live": "polite" });
  const said = onSubmit(form, async () => {
    result.replaceChildren();
    const raw = values(form);
    const inputs = pairs(raw.inputs);
    const request: Doc = { inputs, fields: inputs };
    if (raw.interactionId) request.interactionId = raw.interactionId;
    const answer = await send<Doc>("POST", `${one(id)}/run`, request);
    const shown = h("pre", { class: "json", text: JSON.stringify(answer, null, 2) });
    result.replaceChildren(message("success", h("strong", { text: t("wf.run.done") }), shown));
  });
  form.append(
    h("h2", { text: t("wf.run") }),
    field({ path: "inputs", label: "wf.run.inputs", help: "wf.help.run.inputs", kind: "textarea" }, ""),
    field({ path: "interactionId", label: "wf.run.interaction", help: "wf.help.run.interaction" }, ""),
    h("div", { class: "actions" }, submit(t("wf.run.submit")), said),
    result,
  );
  return form;
}

async function editPage(id: string | null, typeAsked: string): Promise<HTMLElement> {
  const workflow = id ? await get<Doc>(one(id)) : null;
  const type = str(workflow, "type") || typeAsked;
  const page = h("section", {}, h("h1", { text: id ? t("wf.edit", { id }) : t("wf.new") }));
  const form = h("form", { class: "form", novalidate: true });
  if (!id) {
    form.append(
      field(
        {
          path: "type",
          label: "wf.type",
          help: "wf.help.type",
          kind: "select",
          options: TYPES.map((v) => ({ value: v, label: t(`wf.type.${v}` as Key) })),
          onchange: (next) => void editPage(null, next).then((fresh) => page.replaceWith(fresh)),
        },
        type,
      ),
      field({ path: "id", label: "wf.id", help: "wf.help.id", required: true }, ""),
    );
  }
  form.append(
    field({ path: "name", label: "wf.name", help: "wf.help.name" }, str(workflow, "name")),
    field({ path: "settingsId", label: "wf.settingsId", help: "wf.help.settingsId" }, str(workflow, "settingsId")),
    ...(SPECS[type] ?? []).map((spec) => field(spec, shown(spec, workflow))),
  );
  const saved = onSubmit(form, async () => {
    const raw = values(form);
    const target = id ?? String(raw.id ?? "");
    delete raw.type;
    await send("PUT", one(target || "-"), body(type, { ...raw, id: target }));
    if (!id) location.hash = `#/workflows/${encodeURIComponent(target)}`;
    return id ? t("wf.saved") : undefined;
  });
  const remove = id
    ? confirmButton(t("wf.delete"), { title: t("wf.delete.title"), body: t("wf.delete.body", { id }) }, async () => {
        await send("DELETE", one(id));
        location.hash = "#/workflows";
      })
    : null;
  form.append(h("div", { class: "actions" }, submit(t("wf.save")), remove, saved));
  page.append(form);
  if (id) page.append(runBox(id));
  return page;
}

export const workflowsPage: Page = {
  id: "workflows",
  title: "nav.workflows",
  async render(args) {
    if (args[0] === "new") return editPage(null, "search");
    if (args[0]) return editPage(args[0], "search");
    const found = (await get<{ workflows?: Doc[] }>(BASE)).workflows ?? [];
    const page = h("section", {}, h("h1", { text: t("wf.title") }), h("p", { class: "intro", text: t("wf.intro") }));
    page.append(h("div", { class: "actions" }, button(t("wf.add"), () => (location.hash = "#/workflows/new"), "primary")));
    page.append(
      found.length === 0
        ? message("info", t("wf.none"))
        : table(
            [t("wf.col.id"), t("wf.col.name"), t("wf.col.type"), t("wf.col.crm")],
            found.map((w) => [
              h("a", { href: `#/workflows/${encodeURIComponent(str(w, "id"))}`, text: str(w, "id") }),
              str(w, "name"),
              t(`wf.type.${str(w, "type")}` as Key),
              str(w, "settingsId") || t("wf.crm.first"),
            ]),
            t("wf.title"),
          ),
    );
    return page;
  },
};
