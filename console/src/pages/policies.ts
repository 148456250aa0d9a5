// Record-creation policies per queue: every option explained, and a title template editor
// with variable chips and a live preview (rendered by the server, missing values included).
import { get, send } from "../api";
import { button, confirmButton, field, h, message, onSubmit, submit, table, uid, values } from "../dom";
import type { FieldSpec } from "../dom";
import { t } from "../i18n";
import { Page, PageContext, at, str } from "./types";

type Policy = Record<string, unknown>;
const BASE = "/api/admin/policies";
const DEFAULT_QUEUE = "_default";
const one = (queue: string): string => `${BASE}/${encodeURIComponent(queue)}`;

const OPTIONS: FieldSpec[] = [
  { path: "createRecords", label: "policy.createRecords", help: "policy.help.createRecords", kind: "check" },
  { path: "recordType", label: "policy.recordType", help: "policy.help.recordType", placeholder: "case" },
  { path: "settingsId", label: "policy.settingsId", help: "policy.help.settingsId" },
  { path: "delayCallUntilConnected", label: "policy.delayCallUntilConnected", help: "policy.help.delayCallUntilConnected", kind: "check" },
  { path: "abandonedCalls", label: "policy.abandonedCalls", help: "policy.help.abandonedCalls", kind: "check" },
  { path: "chatMinCustomerMessages", label: "policy.chatMinCustomerMessages", help: "policy.help.chatMinCustomerMessages", kind: "number" },
  {
    path: "abandonedChats",
    label: "policy.abandonedChats",
    help: "policy.help.abandonedChats",
    kind: "select",
    options: [
      { value: "off", label: t("policy.abandonedChats.off") },
      { value: "all", label: t("policy.abandonedChats.all") },
      { value: "min-messages", label: t("policy.abandonedChats.min") },
    ],
  },
  { path: "abandonedChatMinMessages", label: "policy.abandonedChatMinMessages", help: "policy.help.abandonedChatMinMessages", kind: "number" },
  { path: "shortAbandonSeconds", label: "policy.shortAbandonSeconds", help: "policy.help.shortAbandonSeconds", kind: "number" },
  { path: "appendToOpen", label: "policy.appendToOpen", help: "policy.help.appendToOpen", kind: "check" },
  { path: "appendClosedWithinDays", label: "policy.appendClosedWithinDays", help: "policy.help.appendClosedWithinDays", kind: "number" },
  { path: "reopenStatus", label: "policy.reopenStatus", help: "policy.help.reopenStatus", placeholder: "Open" },
  { path: "sessionTypeTags", label: "policy.sessionTypeTags", help: "policy.help.sessionTypeTags", kind: "check" },
  { path: "productTag", label: "policy.productTag", help: "policy.help.productTag", kind: "check" },
];

function queueName(queue: string): string {
  return queue === DEFAULT_QUEUE ? t("policy.default_queue") : queue;
}

async function listPage(ctx: PageContext): Promise<HTMLElement> {
  const policies = (await get<{ policies?: Record<string, Policy> }>(BASE)).policies ?? {};
  const page = h("section", {}, h("h1", { text: t("policy.title") }), h("p", { class: "intro", text: t("policy.intro") }));
  const form = h("form", { class: "form inline", novalidate: true });
  form.append(
    field({ path: "queue", label: "policy.queue", help: "policy.help.queue" }, ""),
    h("div", { class: "actions" }, submit(t("policy.open"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const queue = String(values(form).queue ?? "") || DEFAULT_QUEUE;
    location.hash = `#/policies/${encodeURIComponent(queue)}`;
  });
  const queues = Object.keys(policies);
  page.append(
    queues.length === 0
      ? message("info", t("policy.none"))
      : table(
          [t("policy.col.queue"), t("policy.col.creates"), t("policy.col.title")],
          queues.map((queue) => [
            h("a", { href: `#/policies/${encodeURIComponent(queue)}`, text: queueName(queue) }),
            t(at(policies[queue], "createRecords") === true ? "common.yes" : "common.no"),
            h("code", { text: str(policies[queue], "titleTemplate") }),
          ]),
          t("policy.title"),
        ),
    h("h2", { text: t("policy.add") }),
    form,
  );
  void ctx;
  return page;
}

/** The title template with chips that insert a variable, and the server's preview. */
function titleEditor(template: string): HTMLElement {
  const box = h("fieldset", { class: "group title-editor" }, h("legend", { text: t("policy.titleTemplate") }));
  const input = field({ path: "titleTemplate", label: "policy.titleTemplate.field", help: "policy.help.titleTemplate" }, template);
  const control = input.querySelector<HTMLElement & { value: string; control?: HTMLInputElement }>("[data-path]")!;
  const chips = h("div", { class: "chips", role: "group", "aria-label": t("policy.variables") });
  const samples = h("div", { class: "samples" });
  const previewId = uid("preview");
  const preview = h("output", { id: previewId, class: "preview", "aria-live": "polite" });
  const previewError = h("p", { class: "field-error", role: "alert", hidden: true });
  let timer: number | undefined;
  let sampleValues: Record<string, string> | null = null;
  const refresh = async (): Promise<void> => {
    try {
      const body: Record<string, unknown> = { titleTemplate: control.value };
      if (sampleValues) body.values = sampleValues;
      const answer = await send<{ title: string; variables: string[]; values: Record<string, string> }>(
        "POST",
        `${BASE}/title-preview`,
        body,
      );
      preview.textContent = answer.title;
      previewError.hidden = true;
      if (!sampleValues) {
        sampleValues = { ...answer.values };
        drawVariables(answer.variables);
      }
    } catch (error) {
      previewError.textContent = (error as Error).message;
      previewError.hidden = false;
    }
  };
  const later = (): void => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void refresh(), 150);
  };
  const drawVariables = (variables: string[]): void => {
    chips.replaceChildren(
      ...variables.map((name) =>
        button(`{${name}}`, () => {
          const inner = control.control;
          const at = inner?.selectionStart ?? control.value.length;
          const end = inner?.selectionEnd ?? at;
          control.value = `${control.value.slice(0, at)}{${name}}${control.value.slice(end)}`;
          control.focus();
          later();
        }, "secondary", { "aria-label": t("policy.insert", { name }), class: "chip" }),
      ),
    );
    samples.replaceChildren(
      h("p", { class: "help", text: t("policy.samples") }),
      ...variables.map((name) => {
        const id = uid("sample");
        const sample = h("input", { id, type: "text", value: sampleValues?.[name] ?? "" }) as HTMLInputElement;
        sample.addEventListener("input", () => {
          sampleValues = { ...(sampleValues ?? {}), [name]: sample.value };
          later();
        });
        return h("div", { class: "sample" }, h("label", { for: id, text: t("policy.sample", { name }) }), sample);
      }),
    );
  };
  control.addEventListener("input", later);
  box.append(
    input,
    chips,
    h("div", { class: "preview-row" }, h("span", { class: "preview-label", text: t("policy.preview") }), preview),
    previewError,
    h("details", {}, h("summary", { text: t("policy.samples.title") }), samples),
  );
  void refresh();
  return box;
}

async function editPage(queue: string, ctx: PageContext): Promise<HTMLElement> {
  let current: Policy | null = null;
  try {
    current = await get<Policy>(one(queue));
  } catch (error) {
    if (!(error instanceof Error && "status" in error && (error as { status: number }).status === 404)) throw error;
  }
  const page = h("section", {}, h("h1", { text: t("policy.edit", { queue: queueName(queue) }) }));
  if (!current) page.append(message("info", t("policy.new")));
  const form = h("form", { class: "form", novalidate: true });
  const options = OPTIONS.map((spec) => field(spec, at(current, spec.path) ?? (spec.kind === "check" ? false : "")));
  form.append(...options.slice(0, 3), titleEditor(str(current, "titleTemplate") || "{CALL_TYPE} {PHONE_NUMBER} {TIMESTAMP}"), ...options.slice(3));
  const saved = onSubmit(form, async () => {
    const answer = await send<Policy>("PUT", one(queue), values(form));
    return t(at(answer, "createRecords") === true ? "policy.saved.on" : "policy.saved.off");
  });
  const remove = confirmButton(
    t("policy.delete"),
    { title: t("policy.delete.title"), body: t("policy.delete.body", { queue: queueName(queue) }) },
    async () => {
      await send("DELETE", one(queue));
      location.hash = "#/policies";
    },
  );
  form.append(h("div", { class: "actions" }, submit(t("policy.save")), current ? remove : null, saved));
  page.append(form);
  void ctx;
  return page;
}

export const policiesPage: Page = {
  id: "policies",
  title: "nav.policies",
  async render(args, ctx) {
    return args[0] ? editPage(args[0], ctx) : listPage(ctx);
  },
};
