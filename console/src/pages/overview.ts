// Overview: consent, the connected CRMs, write-back health over 24 hours and 7 days, and
// the first-run checklist. Each part shows what the admin API offers; a part whose
// route this server lacks says so.
import { get, missing } from "../api";
import { h, message, table } from "../dom";
import { Key, t } from "../i18n";
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

export const overviewPage: Page = {
  id: "overview",
  title: "nav.overview",
  async render(_args, ctx: PageContext) {
    const [crms, outbox, keys] = await Promise.all([
      get<{ crms?: Doc[] }>("/api/admin/crms").then((a) => a.crms ?? []),
      optional<{ items?: Doc[] }>("/api/admin/outbox"),
      optional<{ keys?: Doc[] }>("/api/admin/keys"),
    ]);
    const page = h("section", {}, h("h1", { text: t("overview.title") }));

    // first-run checklist
    const mapped = crms.some((c) => ((at(c, "field_mappings") as unknown[] | undefined) ?? []).length > 0);
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
    if (ctx.config.mode === "development") {
      page.append(message("info", t("overview.consent.dev")));
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

    // CRMs
    page.append(h("h2", { text: t("overview.crms") }));
    page.append(
      crms.length === 0
        ? message("info", t("crm.none"))
        : table(
            [t("crm.col.name"), t("crm.col.kind"), t("crm.col.status")],
            crms.map((c) => [
              h("a", { href: `#/crms/${encodeURIComponent(str(c, "settings_id"))}`, text: str(c, "display_name") }),
              str(c, "kind"),
              t(at(c, "enabled") === false ? "crm.disabled" : "crm.enabled"),
            ]),
            t("overview.crms"),
          ),
    );

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
    page.append(h("h2", { text: t("overview.lookups") }), message("info", t("overview.lookups.unavailable")));
    return page;
  },
};
