// Routing rules: ordered (first match wins), each with conditions on the caller's CRM
// records, a queue and up to five skills; "try a lookup" shows what a caller would get.
import { get, send } from "../api";
import { button, field, h, message, onSubmit, submit, uid, values } from "../dom";
import { Key, t } from "../i18n";
import { Page, at, str } from "./types";

type Doc = Record<string, unknown>;
const OPS = ["equals", "notEquals", "in", "contains", "between", "exists"];
const list = (text: string): string[] => text.split(",").map((s) => s.trim()).filter(Boolean);

function cell(label: string, value: string, col: string, extra: Doc = {}): HTMLElement {
  const id = uid("r");
  return h(
    "div",
    { class: "cell" },
    h("label", { for: id, text: label }),
    h("input", { id, type: "text", value, "data-col": col, ...extra }),
  );
}

function operand(condition: Doc): string {
  const op = str(condition, "op") || "equals";
  if (op === "in") return ((at(condition, "values") as string[] | undefined) ?? []).join(", ");
  if (op === "between") return `${str(condition, "min")}..${str(condition, "max")}`;
  return str(condition, "value");
}

function conditionRow(condition: Doc, n: string): HTMLElement {
  const opId = uid("op");
  const row = h("div", { class: "row field condition", "data-field": n });
  row.append(
    cell(t("routing.cond.field"), str(condition, "field"), "field", { placeholder: "account.tier" }),
    h(
      "div",
      { class: "cell" },
      h("label", { for: opId, text: t("routing.cond.op") }),
      h("select", { id: opId, "data-col": "op" }, ...OPS.map((op) => h("option", { value: op, selected: op === (str(condition, "op") || "equals") }, t(`routing.op.${op}` as Key)))),
    ),
    cell(t("routing.cond.value"), operand(condition), "operand", { placeholder: t("routing.cond.value.hint") }),
    button(t("mapping.remove"), () => row.remove()),
    h("p", { class: "field-error", role: "alert", hidden: true }),
  );
  return row;
}

function readCondition(row: Element): Doc {
  const get = (col: string): string => (row.querySelector<HTMLInputElement>(`[data-col="${col}"]`)?.value ?? "").trim();
  const op = get("op");
  const operandText = get("operand");
  const out: Doc = { field: get("field"), op };
  if (op === "in") out.values = list(operandText);
  else if (op === "between") {
    const [min, max] = operandText.split("..").map((s) => s.trim());
    if (min) out.min = Number(min);
    if (max) out.max = Number(max);
  } else if (op !== "exists") out.value = operandText;
  return out;
}

function ruleBox(rule: Doc, index: number, rules: HTMLElement): HTMLElement {
  const box = h("fieldset", { class: "group rule", "data-rule": "" });
  const legend = h("legend", {});
  const conditions = h("div", { class: "rows" });
  const renumber = (): void => {
    Array.from(rules.children).forEach((child, i) => {
      const label = child.querySelector("legend");
      if (label) label.textContent = t("routing.rule.n", { n: i + 1 });
      child.querySelectorAll<HTMLElement>("[data-field]").forEach((el) => {
        el.dataset.field = el.dataset.field!.replace(/^rules\.\d+/, `rules.${i}`);
      });
      child.querySelectorAll<HTMLElement>(".condition").forEach((el, j) => {
        el.dataset.field = `rules.${i}.when.${j}`;
      });
    });
  };
  box.append(
    legend,
    field({ path: `rules.${index}.name`, label: "routing.rule.name", required: true }, str(rule, "name")),
    field({ path: `rules.${index}.queue`, label: "routing.rule.queue", required: true }, str(rule, "queue")),
    field({ path: `rules.${index}.skills`, label: "routing.rule.skills", help: "routing.help.skills" }, ((at(rule, "skills") as string[] | undefined) ?? []).join(", ")),
    h("p", { class: "help", text: t("routing.help.when") }),
    conditions,
    h(
      "div",
      { class: "actions" },
      button(t("routing.cond.add"), () => {
        conditions.append(conditionRow({}, ""));
        renumber();
      }),
      button(t("routing.up"), () => {
        if (box.previousElementSibling) rules.insertBefore(box, box.previousElementSibling);
        renumber();
      }, "secondary", { "aria-label": t("routing.up.named", { name: str(rule, "name") || String(index + 1) }) }),
      button(t("routing.down"), () => {
        if (box.nextElementSibling) rules.insertBefore(box.nextElementSibling, box);
        renumber();
      }, "secondary", { "aria-label": t("routing.down.named", { name: str(rule, "name") || String(index + 1) }) }),
      button(t("routing.remove"), () => {
        box.remove();
        renumber();
      }),
    ),
  );
  ((at(rule, "when") as Doc[] | undefined) ?? []).forEach((c) => conditions.append(conditionRow(c, "")));
  queueMicrotask(renumber);
  return box;
}

function readConfig(form: HTMLElement, rules: HTMLElement): Doc {
  const top = values(form);
  return {
    defaultQueue: top.defaultQueue,
    defaultSkills: list(String(top.defaultSkills ?? "")),
    tierField: top.tierField,
    rules: Array.from(rules.children).map((box) => {
      const v = values(box as HTMLElement) as { rules?: Record<string, Doc> };
      const own = Object.values(v.rules ?? {})[0] ?? {};
      return {
        name: own.name,
        queue: own.queue,
        skills: list(String(own.skills ?? "")),
        when: Array.from(box.querySelectorAll(".condition")).map(readCondition),
      };
    }),
  };
}

function tryBox(config: () => Doc): HTMLElement {
  const form = h("form", { class: "form inline", novalidate: true });
  const result = h("div", { "aria-live": "polite" });
  form.append(
    h("h2", { text: t("routing.try") }),
    h("p", { class: "help", text: t("routing.try.help") }),
    field({ path: "phone", label: "routing.try.phone", kind: "text" }, ""),
    field({ path: "email", label: "routing.try.email", kind: "email" }, ""),
    h("div", { class: "actions" }, submit(t("routing.try.submit"))),
    result,
  );
  onSubmit(form, async () => {
    result.replaceChildren();
    const answer = await send<Doc>("POST", "/api/admin/lookup", values(form));
    const routing = (at(answer, "routing") ?? {}) as Doc;
    const ruleName = str(routing, "rule");
    const rule = ((config().rules as Doc[]) ?? []).find((r) => r.name === ruleName);
    result.replaceChildren(
      message(
        at(answer, "identified") === true ? "success" : "info",
        h("strong", { text: at(answer, "identified") === true ? t("routing.try.found", { name: str(answer, "name") }) : t("routing.try.not_found") }),
        h("ul", {}, ...((at(answer, "records") as Doc[] | undefined) ?? []).map((r) => h("li", { text: `${str(r, "title")} (${str(r, "key")})` }))),
        h("p", { text: t("routing.try.queue", { queue: str(routing, "queue"), skills: ((at(routing, "skills") as string[]) ?? []).join(", ") || "—" }) }),
        h("p", {
          text: ruleName
            ? t("routing.try.rule", { rule: ruleName, why: ((rule?.when as Doc[]) ?? []).map((c) => `${str(c, "field")} ${str(c, "op")} ${operand(c)}`).join(" · ") || t("routing.try.always") })
            : t("routing.try.default"),
        }),
      ),
    );
  });
  return form;
}

export const routingPage: Page = {
  id: "routing",
  title: "nav.routing",
  async render() {
    const config = await get<Doc>("/api/admin/routing");
    const page = h("section", {}, h("h1", { text: t("routing.title") }), h("p", { class: "intro", text: t("routing.intro") }));
    const form = h("form", { class: "form", novalidate: true });
    const rules = h("div", { class: "rules" });
    ((at(config, "rules") as Doc[] | undefined) ?? []).forEach((rule, i) => rules.append(ruleBox(rule, i, rules)));
    const saved = onSubmit(form, async () => {
      await send("PUT", "/api/admin/routing", readConfig(form, rules));
      return t("routing.saved");
    });
    form.append(
      rules,
      h("div", { class: "actions" }, button(t("routing.add"), () => rules.append(ruleBox({}, rules.children.length, rules)))),
      h(
        "fieldset",
        { class: "group" },
        h("legend", { text: t("routing.defaults") }),
        field({ path: "defaultQueue", label: "routing.default_queue", help: "routing.help.default_queue", required: true }, str(config, "defaultQueue")),
        field({ path: "defaultSkills", label: "routing.default_skills", help: "routing.help.skills" }, ((at(config, "defaultSkills") as string[] | undefined) ?? []).join(", ")),
        field({ path: "tierField", label: "routing.tier_field", help: "routing.help.tier_field" }, str(config, "tierField")),
      ),
      h("div", { class: "actions" }, submit(t("routing.save")), saved),
    );
    page.append(form, tryBox(() => readConfig(form, rules)));
    return page;
  },
};
