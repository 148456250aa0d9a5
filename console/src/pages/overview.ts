// Overview: consent, each CRM connection's health (last test, recent errors, circuit),
// write-back health over 24 hours and 7 days, the caller identification rate, ticket
// sync, and the first-run checklist. Each part shows what the admin API offers; a part
// whose route this server lacks says so.
import { get, missing } from "../api";
import { KINDS } from "../crm_kinds";
import { h, message, table, when } from "../dom";
import { Key, t } from "../i18n";
import { fetchHealth, healthCells, percent } from "../health";
import { Page, PageContext, at, str } from "./types";

type Doc = Record<string, unknown>;
const HOUR = 3_600_000;

async function optional<T>(path: string): Promise<T | null> {
  try {
    return await get<T>(path);
  } catch (error) {
    if (missing(error)) return null;
    throw error;
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function seconds(value: number | null): string {
  if (value === null) return "—";
  return value < 120 ? t("overview.seconds", { n: Math.round(value) }) : t("overview.minutes", { n: Math.round(value / 60) });
}

/** Write-backs touched within the window: delivered, retrying, parked, median delay. */
function health(items: Doc[], hours: number, now: number): string[] {
  const recent = items.filter((i) => now - Date.parse(str(i, "updatedAt")) <= hours * HOUR);
  const done = recent.filter((i) => str(i, "status") === "done");
  const delays = done.map((i) => (Date.parse(str(i, "updatedAt")) - Date.parse(str(i, "createdAt"))) / 1000);
  return [
    String(done.length),
    String(recent.filter((i) => str(i, "status") === "pending").length),
    String(recent.filter((i) => str(i, "status") === "parked").length),
    seconds(median(delays)),
  ];
}

function step(done: boolean | null, label: Key, href: string): HTMLElement {
  const state = done === null ? "overview.check.unknown" : done ? "overview.check.done" : "overview.check.todo";
  return h(
    "li",
    { class: done ? "done" : "todo" },
    h("span", { class: "state", text: t(state) }),
    " ",
    h("a", { href, text: t(label) }),
  );
}

// GET /api/admin/tickets/sync (bot/web/tickets.py)
interface TicketSync {
  crmId: string;
  displayName: string;
  lastSync: { startedAt: string; finishedAt: string | null; ticketsImported: number; error: string | null } | null;
}

function crmLink(settingsId: string, name: string): HTMLElement {
  return h("a", { href: `#/crms/${encodeURIComponent(settingsId)}`, text: name });
}

function kindLabel(kind: string): string {
  const form = KINDS.find((k) => k.kind === kind);
  return form ? t(form.label) : kind;
}

function enabled(on: boolean): string {
  return t(on ? "crm.enabled" : "crm.disabled");
}

function syncResult(last: TicketSync["lastSync"]): string {
  if (!last) return "—";
  return last.error ? t("overview.tickets.failed", { error: last.error }) : t("overview.tickets.ok", { n: last.ticketsImported });
}

export const overviewPage: Page = {
  id: "overview",
  title: "nav.overview",
  async render(_args, ctx: PageContext) {
    const [crms, outbox, keys, tenantHealth, syncs] = await Promise.all([
      get<{ crms?: Doc[] }>("/api/admin/crms").then((a) => a.crms ?? []),
      optional<{ items?: Doc[] }>("/api/admin/outbox"),
      optional<{ keys?: Doc[] }>("/api/admin/keys"),
      fetchHealth(),
      optional<{ crms?: TicketSync[] }>("/api/admin/tickets/sync"),
    ]);
    const page = h("section", {}, h("h1", { text: t("overview.title") }));

    // first-run checklist
    const mapped = crms.some((c) => ((at(c, "fieldMappings") as unknown[] | undefined) ?? []).length > 0);
    const activeKeys = keys ? (keys.keys ?? []).filter((k) => !at(k, "revokedAt")) : null;
    const used = activeKeys ? activeKeys.some((k) => Boolean(at(k, "lastUsedAt"))) : null;
    page.append(
      h("h2", { text: t("overview.checklist") }),
      h(
        "ol",
        { class: "checklist" },
        step(crms.length > 0, "overview.check.crm", "#/crms"),
        step(crms.length > 0 ? mapped : false, "overview.check.mapping", "#/mappings"),
        step(activeKeys ? activeKeys.length > 0 : null, "overview.check.key", "#/keys"),
        step(used, "overview.check.event", "#/keys"),
      ),
    );

    // consent
    page.append(h("h2", { text: t("overview.consent") }));
    const consent = tenantHealth?.consent;
    if (ctx.config.mode === "development") {
      page.append(message("info", t("overview.consent.dev")));
    } else if (consent && !consent.required) {
      page.append(message("info", t("overview.consent.notRequired")));
    } else if (consent?.consented) {
      page.append(
        message("success", t("overview.consent.granted", { date: when(consent.grantedAt), by: consent.grantedBy ?? "—" })),
      );
    } else {
      page.append(
        h(
          "p",
          {},
          t("overview.consent.body"),
          " ",
          h("a", { href: ctx.config.consentUrl ?? "/admin/consent", target: "_blank", rel: "noopener", text: t("overview.consent.link") }),
        ),
      );
    }

    // CRMs and their health
    page.append(h("h2", { text: t("overview.crms") }));
    if (crms.length === 0) {
      page.append(message("info", t("crm.none")));
    } else if (!tenantHealth) {
      page.append(
        table(
          [t("crm.col.name"), t("crm.col.kind"), t("crm.col.status")],
          crms.map((c) => [crmLink(str(c, "settingsId"), str(c, "displayName")), str(c, "kind"), enabled(at(c, "enabled") !== false)]),
          t("overview.crms"),
        ),
      );
    } else {
      const minutes = Math.round((tenantHealth.crms[0]?.windowSeconds ?? 900) / 60);
      page.append(
        table(
          [
            t("crm.col.name"),
            t("crm.col.kind"),
            t("crm.col.status"),
            t("overview.health.lastTest"),
            t("overview.health.errors", { n: minutes }),
            t("overview.health.circuit"),
          ],
          tenantHealth.crms.map((c) => [
            crmLink(c.settingsId, c.displayName),
            kindLabel(c.kind),
            enabled(c.enabled),
            ...healthCells(c),
          ]),
          t("overview.crms"),
        ),
        h("p", { class: "help", text: t("overview.health.scope") }),
      );
    }

    // write-back health
    page.append(h("h2", { text: t("overview.writebacks") }));
    if (!outbox) {
      page.append(message("warning", t("common.unavailable")));
    } else {
      const now = Date.now();
      const items = outbox.items ?? [];
      page.append(
        table(
          [t("overview.window"), t("overview.delivered"), t("overview.retrying"), t("overview.parked"), t("overview.median")],
          [
            [t("overview.24h"), ...health(items, 24, now)],
            [t("overview.7d"), ...health(items, 24 * 7, now)],
          ],
          t("overview.writebacks"),
        ),
      );
    }

    // caller identification
    page.append(h("h2", { text: t("overview.lookups") }));
    const callers = tenantHealth?.identification;
    if (!callers) {
      page.append(message("warning", t("common.unavailable")));
    } else {
      const hours = Math.round(callers.windowSeconds / 3600);
      page.append(
        h(
          "p",
          { "data-part": "identification" },
          callers.interactions === 0
            ? t("overview.lookups.none", { hours })
            : t("overview.lookups.rate", {
                identified: callers.identified,
                total: callers.interactions,
                rate: percent(callers.rate ?? 0),
                hours,
              }),
        ),
      );
    }

    // ticket sync, where ticketing is on
    const synced = syncs?.crms ?? [];
    if (synced.length > 0) {
      page.append(
        h("h2", { text: t("overview.tickets") }),
        table(
          [t("crm.col.name"), t("overview.tickets.col.last"), t("overview.tickets.col.result")],
          synced.map((s) => [s.displayName, s.lastSync ? when(s.lastSync.finishedAt ?? s.lastSync.startedAt) : t("overview.tickets.never"), syncResult(s.lastSync)]),
          t("overview.tickets"),
        ),
      );
    }
    return page;
  },
};
