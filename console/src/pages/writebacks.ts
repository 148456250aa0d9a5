// Write-backs: the ones waiting for a retry (and what they wait for: the agent's sign-in,
// the tenant's admin consent) and the parked ones, with their reasons; replay one, or
// every parked one (of one CRM); filter by CRM.
import { get, send } from "../api";
import { button, confirmButton, h, message, table, uid, when } from "../dom";
import { Key, t } from "../i18n";
import { Page, str } from "./types";

type Item = Record<string, unknown>;
const BASE = "/api/admin/outbox";

/** The CRM part of a record reference (``settingsId:type:id``). */
const crmOf = (item: Item): string => str(item, "record").split(":")[0];

/** The label of each ``waitingFor`` the API answers (null: the backoff only). */
const WAITING_FOR: Partial<Record<string, Key>> = { "sign-in": "wb.waiting.sign_in", consent: "wb.waiting.consent" };

/** When a pending write-back is tried next, and what makes it due at once if it waits. */
function nextAttempt(item: Item): HTMLElement | string {
  const next = when(str(item, "nextAttemptAt"));
  const waitingFor = WAITING_FOR[str(item, "waitingFor")];
  if (!waitingFor) return next;
  return h("span", {}, next, h("br"), h("fluent-badge", { appearance: "tint", color: "warning" }, t(waitingFor)));
}

function filters(status: string, crm: string, crms: string[]): HTMLElement {
  const statusId = uid("status");
  const crmId = uid("crm");
  const go = (nextStatus: string, nextCrm: string): void => {
    const query = new URLSearchParams({ status: nextStatus, ...(nextCrm ? { crm: nextCrm } : {}) });
    location.hash = `#/writebacks?${query}`;
  };
  const statusSelect = h(
    "select",
    { id: statusId },
    ...["parked", "pending"].map((s) => h("option", { value: s, selected: s === status }, t(`wb.status.${s}` as "wb.status.parked"))),
  ) as HTMLSelectElement;
  const crmSelect = h(
    "select",
    { id: crmId },
    h("option", { value: "" }, t("wb.crm.all")),
    ...crms.map((id) => h("option", { value: id, selected: id === crm }, id)),
  ) as HTMLSelectElement;
  statusSelect.addEventListener("change", () => go(statusSelect.value, crmSelect.value));
  crmSelect.addEventListener("change", () => go(statusSelect.value, crmSelect.value));
  return h(
    "div",
    { class: "filters" },
    h("div", { class: "field" }, h("label", { for: statusId, text: t("wb.filter.status") }), statusSelect),
    h("div", { class: "field" }, h("label", { for: crmId, text: t("wb.filter.crm") }), crmSelect),
  );
}

export const writebacksPage: Page = {
  id: "writebacks",
  title: "nav.writebacks",
  async render() {
    const query = new URLSearchParams(location.hash.split("?")[1] ?? "");
    const status = query.get("status") === "pending" ? "pending" : "parked";
    const crm = query.get("crm") ?? "";
    const [answer, crmList] = await Promise.all([
      get<{ items?: Item[] }>(`${BASE}?status=${status}`),
      get<{ crms?: Item[] }>("/api/admin/crms").catch(() => ({ crms: [] as Item[] })),
    ]);
    const items = (answer.items ?? []).filter((item) => !crm || crmOf(item) === crm);
    const crms = [...new Set([...(crmList.crms ?? []).map((c) => str(c, "settingsId")), ...(answer.items ?? []).map(crmOf)])].filter(Boolean);
    const page = h("section", {}, h("h1", { text: t("wb.title") }), h("p", { class: "intro", text: t("wb.intro") }));
    const notice = h("div", { "aria-live": "polite" });
    page.append(filters(status, crm, crms), notice);
    if (status === "parked" && items.length > 0) {
      page.append(
        h(
          "div",
          { class: "actions" },
          confirmButton(
            crm ? t("wb.replay_all.crm", { crm }) : t("wb.replay_all"),
            { title: t("wb.replay_all.title"), body: t("wb.replay_all.body", { count: items.length }), confirm: t("wb.replay") },
            async () => {
              const done = await send<{ items?: Item[] }>("POST", `${BASE}/replay`, crm ? { allParked: true, settingsId: crm } : { allParked: true });
              notice.replaceChildren(message("success", t("wb.replayed.many", { count: (done.items ?? []).length })));
            },
            "primary",
          ),
        ),
      );
    }
    if (items.length === 0) {
      page.append(message("info", t(status === "parked" ? "wb.none.parked" : "wb.none.pending")));
      return page;
    }
    page.append(
      table(
        [t("wb.col.record"), t("wb.col.crm"), t("wb.col.attempts"), t("wb.col.next"), t("wb.col.reason"), t("wb.col.actions")],
        items.map((item) => [
          h("span", {}, str(item, "recordTitle") || str(item, "record"), h("br"), h("small", { class: "help", text: t("wb.interaction", { id: str(item, "interactionId") }) })),
          crmOf(item),
          str(item, "attempts"),
          status === "parked" ? t("wb.waiting_for_you") : nextAttempt(item),
          h("span", { class: "vendor-message", text: str(item, "parkedReason") || str(item, "lastError") || "—" }),
          button(t("wb.replay"), async () => {
            await send("POST", `${BASE}/replay`, { interactionId: str(item, "interactionId"), record: str(item, "record") });
            notice.replaceChildren(message("success", t("wb.replayed.one", { title: str(item, "recordTitle") || str(item, "record") })));
          }, "secondary", { "aria-label": t("wb.replay.named", { title: str(item, "recordTitle") || str(item, "record") }) }),
        ]),
        t("wb.title"),
      ),
    );
    return page;
  },
};
