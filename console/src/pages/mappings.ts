// Mappings of one CRM connection: dynamic data (CRM field -> card field, shown in the
// card's Contact section) and memorialization (crmcard field -> CRM field, written back
// when an interaction ends), with the timeline activity.
import { get, send } from "../api";
import { button, field, h, message, onSubmit, submit, table, uid, values } from "../dom";
import { Key, t } from "../i18n";
import { Page, at, str } from "./types";

type Doc = Record<string, unknown>;
const SOURCES = [
  "contactName", "phone", "email", "channel", "direction", "queue", "start", "end", "duration",
  "agent", "disposition", "notes", "transcript", "callId", "menuPath", "language",
];

function input(label: string, value: string, extra: Record<string, unknown> = {}): HTMLElement {
  const id = uid("m");
  return h(
    "div",
    { class: "cell" },
    h("label", { for: id, class: "visually-hidden", text: label }),
    h("input", { id, type: "text", value, ...extra }),
  );
}

function rowError(path: string): HTMLElement {
  return h("p", { class: "field-error", role: "alert", hidden: true, "data-error-for": path });
}

/** Editable rows: each a <div data-field="fields.N"> holding inputs with data-col. */
function rows(
  container: HTMLElement,
  make: (value: Doc, index: number) => HTMLElement[],
  values: Doc[],
  prefix: string,
  addLabel: string,
): HTMLElement {
  const list = h("div", { class: "rows" });
  const add = (value: Doc): void => {
    const index = list.children.length;
    const row = h("div", { class: "row field", "data-field": `${prefix}.${index}` });
    row.append(
      ...make(value, index),
      button(t("mapping.remove"), () => row.remove(), "secondary", { "aria-label": t("mapping.remove.row", { n: index + 1 }) }),
      rowError(`${prefix}.${index}`),
    );
    list.append(row);
  };
  values.forEach(add);
  container.append(list, h("div", { class: "actions" }, button(addLabel, () => add({}))));
  return list;
}

function collect(list: HTMLElement): Doc[] {
  return Array.from(list.children).map((row) => {
    const out: Doc = {};
    row.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[data-col]").forEach((el) => {
      const value = el.value.trim();
      if (!value) return;
      out[el.dataset.col as string] = el.dataset.number ? Number(value) : value;
    });
    return out;
  }).filter((row) => Object.keys(row).length > 0);
}

function sourceSelect(value: string, n: number): HTMLElement {
  const id = uid("src");
  return h(
    "div",
    { class: "cell" },
    h("label", { for: id, class: "visually-hidden", text: t("mapping.source.n", { n }) }),
    h(
      "select",
      { id, "data-col": "source" },
      ...SOURCES.map((s) => h("option", { value: s, selected: s === value }, t(`mapping.source.${s}` as Key))),
    ),
  );
}

function withCol(cell: HTMLElement, col: string, number = false): HTMLElement {
  const el = cell.querySelector("input") as HTMLInputElement;
  el.dataset.col = col;
  if (number) {
    el.type = "number";
    el.dataset.number = "true";
  }
  return cell;
}

async function editor(id: string): Promise<HTMLElement> {
  const [crm, memo] = await Promise.all([
    get<Doc>(`/api/admin/crms/${encodeURIComponent(id)}`),
    get<Doc>(`/api/admin/crms/${encodeURIComponent(id)}/memorialization`),
  ]);
  const section = h("div", {});

  // dynamic data: part of the CRM connection
  const dynamic = h("form", { class: "form", novalidate: true });
  dynamic.append(h("h2", { text: t("mapping.dynamic") }), h("p", { class: "help", text: t("mapping.dynamic.help") }));
  const current = (at(crm, "fieldMappings") as Doc[] | undefined) ?? [];
  const dynamicRows = rows(
    dynamic,
    (value, i) => [
      withCol(input(t("mapping.crm_field.n", { n: i + 1 }), str(value, "crmField"), { placeholder: t("mapping.crm_field") }), "crmField"),
      withCol(input(t("mapping.card_field.n", { n: i + 1 }), str(value, "cardField"), { placeholder: t("mapping.card_field") }), "cardField"),
    ],
    current,
    "fieldMappings",
    t("mapping.add"),
  );
  const dynamicSaved = onSubmit(dynamic, async () => {
    await send("PATCH", `/api/admin/crms/${encodeURIComponent(id)}`, { fieldMappings: collect(dynamicRows) });
    return t("mapping.saved");
  });
  dynamic.append(h("div", { class: "actions" }, submit(t("mapping.save.dynamic")), dynamicSaved));

  // the mappings on a real record of this CRM
  const preview = h("form", { class: "form inline", novalidate: true });
  const shown = h("div", { "aria-live": "polite" });
  const previewSaid = onSubmit(preview, async () => {
    shown.replaceChildren();
    const answer = await send<{ records?: Doc[] }>("POST", `/api/admin/crms/${encodeURIComponent(id)}/preview`, values(preview));
    const [record] = answer.records ?? [];
    if (!record) return t("mapping.preview.none");
    const rows = (data: unknown): (HTMLElement | string)[][] =>
      Object.entries((data ?? {}) as Record<string, string>).map(([k, v]) => [h("code", { text: k }), v]);
    shown.replaceChildren(
      h("h3", { text: str(record, "title") }),
      table([t("mapping.card_field"), t("mapping.preview.value")], rows(at(record, "cardFields")), t("mapping.preview.card")),
      h("p", { class: "help", text: t("mapping.preview.known") }),
      table([t("mapping.crm_field"), t("mapping.preview.value")], rows(at(record, "fields")), t("mapping.preview.known")),
    );
  });
  preview.append(
    h("h2", { text: t("mapping.preview") }),
    field({ path: "phone", label: "routing.try.phone" }, ""),
    field({ path: "email", label: "routing.try.email", kind: "email" }, ""),
    h("div", { class: "actions" }, submit(t("mapping.preview.submit")), previewSaid),
    shown,
  );

  // memorialization: its own document
  const memoForm = h("form", { class: "form", novalidate: true });
  memoForm.append(h("h2", { text: t("mapping.memo") }), h("p", { class: "help", text: t("mapping.memo.help") }));
  const memoRows = rows(
    memoForm,
    (value, i) => [
      sourceSelect(str(value, "source"), i + 1),
      withCol(input(t("mapping.target.n", { n: i + 1 }), str(value, "target"), { placeholder: t("mapping.target") }), "target"),
      withCol(input(t("mapping.max.n", { n: i + 1 }), str(value, "maxLength"), { placeholder: t("mapping.max") }), "maxLength", true),
    ],
    (at(memo, "fields") as Doc[] | undefined) ?? [],
    "fields",
    t("mapping.add"),
  );
  const timelineId = uid("tl");
  const typeId = uid("tt");
  const timeline = (at(memo, "timeline") ?? {}) as Doc;
  const enabled = h("input", { id: timelineId, type: "checkbox", checked: at(timeline, "enabled") !== false }) as HTMLInputElement;
  const kind = h(
    "select",
    { id: typeId },
    ...["task", "phonecall"].map((v) => h("option", { value: v, selected: str(timeline, "activityType") === v }, t(`mapping.timeline.${v}` as Key))),
  ) as HTMLSelectElement;
  memoForm.append(
    h("div", { class: "field check", "data-field": "timeline.enabled" }, h("label", { for: timelineId }, enabled, " ", t("mapping.timeline")), rowError("timeline.enabled")),
    h("div", { class: "field", "data-field": "timeline.activityType" }, h("label", { for: typeId, text: t("mapping.timeline.type") }), kind, rowError("timeline.activityType")),
  );
  const memoSaved = onSubmit(memoForm, async () => {
    await send("PUT", `/api/admin/crms/${encodeURIComponent(id)}/memorialization`, {
      fields: collect(memoRows),
      timeline: { enabled: enabled.checked, activityType: kind.value },
    });
    return t("mapping.saved");
  });
  memoForm.append(h("div", { class: "actions" }, submit(t("mapping.save.memo")), memoSaved));
  section.append(dynamic, preview, memoForm);
  return section;
}

export const mappingsPage: Page = {
  id: "mappings",
  title: "nav.mappings",
  async render(args) {
    const crms = (await get<{ crms?: Doc[] }>("/api/admin/crms")).crms ?? [];
    const page = h("section", {}, h("h1", { text: t("mapping.title") }), h("p", { class: "intro", text: t("mapping.intro") }));
    if (crms.length === 0) {
      page.append(message("info", t("mapping.no_crm")));
      return page;
    }
    const chosen = args[0] ?? str(crms[0], "settingsId");
    const id = uid("crm");
    const select = h(
      "select",
      { id },
      ...crms.map((c) => h("option", { value: str(c, "settingsId"), selected: str(c, "settingsId") === chosen }, str(c, "displayName") || str(c, "settingsId"))),
    ) as HTMLSelectElement;
    select.addEventListener("change", () => {
      location.hash = `#/mappings/${encodeURIComponent(select.value)}`;
    });
    page.append(h("div", { class: "field" }, h("label", { for: id, text: t("mapping.crm") }), select), await editor(chosen));
    return page;
  },
};
