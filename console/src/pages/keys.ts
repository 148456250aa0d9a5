// Platform keys: the X-Api-Key a contact-center platform sends. Created here (shown once,
// with a copy button), listed with their last use, revoked with confirmation.
import { get, missing, send } from "../api";
import { button, confirmButton, field, h, message, onSubmit, submit, table, uid, values, when } from "../dom";
import { t } from "../i18n";
import { Page, at, str } from "./types";

type Key = Record<string, unknown>;
const BASE = "/api/admin/keys";

function shownOnce(created: Key): HTMLElement {
  const id = uid("newkey");
  const secret = str(created, "key");
  const copied = h("span", { class: "help", "aria-live": "polite" });
  const input = h("input", { id, class: "mono", readonly: true, value: secret, "data-new-key": "true" }) as HTMLInputElement;
  return message(
    "success",
    h("strong", { text: t("keys.created", { name: str(created, "name") }) }),
    h("p", { text: t("keys.shown_once") }),
    h("label", { for: id, text: t("keys.value") }),
    h(
      "div",
      { class: "copy-row" },
      input,
      button(t("keys.copy"), async () => {
        try {
          await navigator.clipboard.writeText(secret);
        } catch {
          input.select();
          document.execCommand("copy");
        }
        copied.textContent = t("keys.copied");
      }, "primary"),
      copied,
    ),
  );
}

export const keysPage: Page = {
  id: "keys",
  title: "nav.keys",
  async render(_args, ctx) {
    const page = h("section", {}, h("h1", { text: t("keys.title") }), h("p", { class: "intro", text: t("keys.intro") }));
    let keys: Key[];
    try {
      keys = (await get<{ keys?: Key[] }>(BASE)).keys ?? [];
    } catch (error) {
      if (!missing(error)) throw error;
      page.append(message("warning", t("common.unavailable")));
      return page;
    }
    const fresh = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "form inline", novalidate: true });
    const said = onSubmit(form, async () => {
      const body = values(form);
      if (typeof body.expiresAt === "string") body.expiresAt = new Date(`${body.expiresAt}T23:59:59Z`).toISOString();
      const created = await send<Key>("POST", BASE, body);
      const next = await keysPage.render([], ctx);
      next.querySelector(".fresh-key")?.replaceChildren(shownOnce(created));
      page.replaceWith(next);
      next.querySelector<HTMLElement>("[data-new-key]")?.focus();
    });
    form.append(
      field({ path: "name", label: "keys.field.name", help: "keys.help.name", required: true }, ""),
      field({ path: "expiresAt", label: "keys.field.expires", help: "keys.help.expires", kind: "date" }, ""),
      h("div", { class: "actions" }, submit(t("keys.create")), said),
    );
    fresh.classList.add("fresh-key");
    page.append(fresh, h("h2", { text: t("keys.create.title") }), form, h("h2", { text: t("keys.list") }));
    const active = keys.filter((k) => !at(k, "revokedAt"));
    if (active.length === 0) {
      page.append(message("info", t("keys.none")));
      return page;
    }
    page.append(
      table(
        [t("keys.col.name"), t("keys.col.created"), t("keys.col.last_used"), t("keys.col.expires"), t("keys.col.actions")],
        active.map((key) => [
          str(key, "name"),
          t("keys.by", { when: when(str(key, "createdAt")), who: str(key, "createdBy") }),
          when(str(key, "lastUsedAt")),
          str(key, "expiresAt") ? when(str(key, "expiresAt")) : t("keys.no_expiry"),
          confirmButton(
            t("keys.revoke"),
            { title: t("keys.revoke.title"), body: t("keys.revoke.body", { name: str(key, "name") }) },
            async () => {
              await send("DELETE", `${BASE}/${encodeURIComponent(str(key, "id"))}`);
              ctx.refresh();
            },
            "secondary",
            { "aria-label": t("keys.revoke.named", { name: str(key, "name") }) },
          ),
        ]),
        t("keys.list"),
      ),
    );
    return page;
  },
};
