// Small DOM helpers: elements, labelled form fields with help and an error slot each, and
// putting an API answer's field errors next to the fields they belong to.
import { ApiError, FieldError } from "./api";
import { Key, t } from "./i18n";

type Child = Node | string | null | undefined | false;
type Props = Record<string, unknown>;

export function h(tag: string, props: Props = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value as EventListener);
    } else if (name === "text") {
      el.textContent = String(value);
    } else if (name === "value" || name === "checked") {
      (el as unknown as Record<string, unknown>)[name] = value;
      if (name === "value") el.setAttribute("value", String(value));
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

let ids = 0;
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

export function button(
  label: string,
  onclick: (event: Event) => unknown,
  // subtle and outline buttons kept the light theme's text colour after a switch to dark
  // (axe measured 1.5:1): primary and secondary only
  appearance: "primary" | "secondary" = "secondary",
  extra: Props = {},
): HTMLElement {
  // role as an attribute too: the element's internals say "button", not every tool reads them
  return h("fluent-button", { appearance, onclick, type: "button", role: "button", ...extra }, label);
}

export function submit(label: string): HTMLElement {
  return h("fluent-button", { appearance: "primary", type: "submit", role: "button" }, label);
}

export type FieldKind =
  | "text"
  | "url"
  | "email"
  | "secret"
  | "textarea"
  | "select"
  | "check"
  | "date"
  | "number";

export interface FieldSpec {
  path: string;
  label: Key;
  help?: Key;
  kind?: FieldKind;
  options?: { value: string; label: string }[];
  required?: boolean;
  placeholder?: string;
  onchange?: (value: string) => void;
}

/** A labelled input with its help text and an (empty) error next to it. */
export function field(spec: FieldSpec, value: unknown, secretStored = false): HTMLElement {
  const kind = spec.kind ?? "text";
  const label = t(spec.label) + (spec.required ? " *" : "");
  const id = uid("f");
  const help = spec.help ? h("p", { class: "help", id: `${id}-help`, text: t(spec.help) }) : null;
  const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  const common: Props = { "data-path": spec.path, name: spec.path };
  let input: HTMLElement;
  if (kind === "select") {
    input = h(
      "select",
      { ...common, id, "aria-describedby": help ? `${id}-help` : undefined },
      ...(spec.options ?? []).map((option) =>
        h("option", { value: option.value, selected: option.value === value }, option.label),
      ),
    );
    if (spec.onchange) {
      input.addEventListener("change", () => spec.onchange?.((input as HTMLSelectElement).value));
    }
    return h("div", { class: "field", "data-field": spec.path }, h("label", { for: id, text: label }), input, help, error);
  }
  if (kind === "check") {
    input = h("input", { ...common, id, type: "checkbox", checked: Boolean(value) });
    return h(
      "div",
      { class: "field check", "data-field": spec.path },
      h("label", { for: id }, input, " ", t(spec.label)),
      help,
      error,
    );
  }
  if (kind === "textarea") {
    input = h(
      "fluent-textarea",
      { ...common, resize: "vertical", value: value ?? "", placeholder: spec.placeholder },
      h("span", { slot: "label", text: label }),
    );
  } else {
    const type = kind === "secret" ? "password" : kind;
    const placeholder =
      kind === "secret" && secretStored ? t("field.secret.stored") : spec.placeholder;
    input = h(
      "fluent-text-input",
      {
        ...common,
        type,
        value: kind === "secret" ? "" : (value ?? ""),
        placeholder,
        autocomplete: kind === "secret" ? "new-password" : "off",
        "data-secret": kind === "secret" ? "true" : undefined,
        "data-number": kind === "number" ? "true" : undefined,
      },
      label,
    );
  }
  return h("div", { class: "field", "data-field": spec.path }, input, help, error);
}

/** The values of every field under ``root`` as a nested object; empty fields are left out. */
export function values(root: HTMLElement): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  root.querySelectorAll<HTMLElement>("[data-path]").forEach((el) => {
    const path = el.dataset.path as string;
    let value: unknown;
    if (el instanceof HTMLInputElement && el.type === "checkbox") value = el.checked;
    else value = String((el as unknown as { value?: string }).value ?? "").trim();
    if (value === "") return;
    if (el.dataset.number && !Number.isNaN(Number(value))) value = Number(value);
    const parts = path.split(".");
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  });
  return out;
}

const squash = (path: string): string => path.toLowerCase().replace(/_/g, "");

function matches(fieldPath: string, errorPath: string): boolean {
  const want = squash(fieldPath);
  const parts = errorPath.split(".");
  if (squash(errorPath) === want) return true;
  // a tagged union puts the tag in the path (auth.api_key.header): try without each part
  return parts.some((_, i) => squash(parts.filter((__, j) => j !== i).join(".")) === want);
}

export function clearErrors(root: HTMLElement): void {
  root.querySelectorAll<HTMLElement>(".field-error").forEach((el) => {
    el.textContent = "";
    el.hidden = true;
  });
  root.querySelectorAll<HTMLElement>("[data-invalid]").forEach((el) => el.removeAttribute("data-invalid"));
  root.querySelectorAll(".form-error").forEach((el) => el.remove());
}

/** Each field error next to its field; the rest (and the message) above the form. */
export function showErrors(root: HTMLElement, error: unknown): void {
  clearErrors(root);
  const problem = error instanceof ApiError ? error : new ApiError(0, String(error));
  const unplaced: FieldError[] = [];
  let first: HTMLElement | null = null;
  for (const fe of problem.fieldErrors) {
    const wrapper = Array.from(root.querySelectorAll<HTMLElement>("[data-field]")).find((el) =>
      matches(el.dataset.field as string, fe.path),
    );
    const slot = wrapper?.querySelector<HTMLElement>(".field-error");
    if (!wrapper || !slot) {
      unplaced.push(fe);
      continue;
    }
    slot.textContent = slot.textContent ? `${slot.textContent} ${fe.message}` : fe.message;
    slot.hidden = false;
    wrapper.setAttribute("data-invalid", "true");
    first ??= wrapper.querySelector<HTMLElement>("[data-path]");
  }
  const box = h(
    "div",
    { class: "form-error message error", role: "alert" },
    h("strong", { text: problem.message }),
    ...unplaced.map((fe) => h("div", { text: fe.path ? `${fe.path}: ${fe.message}` : fe.message })),
  );
  root.prepend(box);
  (first ?? box).focus?.();
}

export function message(kind: "info" | "success" | "warning" | "error", ...children: Child[]): HTMLElement {
  return h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

/**
 * The form's submit: errors cleared, ``run`` awaited, a refusal's field errors shown next
 * to their fields. ``run`` answers what to say when it worked (nothing: say nothing).
 * Returns where that is said, to be put beside the submit button.
 */
export function onSubmit(form: HTMLElement, run: () => Promise<string | void>): HTMLElement {
  const said = h("div", { "aria-live": "polite" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    said.replaceChildren();
    try {
      const done = await run();
      if (done) said.replaceChildren(message("success", done));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return said;
}

/** A button whose action runs once the admin confirmed it in a dialog. */
export function confirmButton(
  label: string,
  question: { title: string; body: string; confirm?: string },
  run: () => Promise<unknown>,
  appearance: "primary" | "secondary" = "secondary",
  extra: Props = {},
): HTMLElement {
  return button(
    label,
    async () => {
      if (await confirmDialog(question.title, question.body, question.confirm ?? label)) await run();
    },
    appearance,
    extra,
  );
}

/** Asks before a destructive action; resolves true when confirmed. Keyboard: Esc cancels. */
export function confirmDialog(title: string, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId }) as HTMLDialogElement;
    const done = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h("h2", { id: titleId, text: title }),
      h("p", { text }),
      h(
        "div",
        { class: "actions" },
        button(t("common.cancel"), () => done(false)),
        button(confirmLabel, () => done(true), "primary", { "data-confirm": "true" }),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function when(iso: string | null | undefined): string {
  if (!iso) return t("common.never");
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function table(headers: string[], rows: Child[][], caption?: string): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "visually-hidden", text: caption }) : null,
      h("thead", {}, h("tr", {}, ...headers.map((text) => h("th", { scope: "col", text })))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((cell) => h("td", {}, cell))))),
    ),
  );
}
