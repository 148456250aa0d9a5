// The audit log: every admin change and card action of the tenant, filtered by actor,
// kind and date, with before/after; exported as CSV with the same filters.
import { get, missing, request } from "../api";
import { button, field, h, message, submit, table, values, when } from "../dom";
import { t } from "../i18n";
import { Page, at, str } from "./types";

type Entry = Record<string, unknown>;
const BASE = "/api/admin/audit";
const KINDS = ["crm", "mapping", "workflow", "policy", "routing", "key", "consent", "tenant", "card", "writeback"];

function query(filters: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const name of ["actor", "kind", "from", "to"]) {
    const value = filters[name];
    if (typeof value === "string" && value) q.set(name, value);
  }
  if (typeof filters.to === "string" && filters.to) {
    // "to" is exclusive: the end of the chosen day
    q.set("to", new Date(new Date(`${filters.to}T00:00:00Z`).getTime() + 86_400_000).toISOString());
  }
  return q.toString();
}

function change(entry: Entry): HTMLElement | string {
  const before = at(entry, "before");
  const after = at(entry, "after");
  if (before === undefined && after === undefined) return "";
  if (before === null && after === null) return "";
  return h(
    "details",
    {},
    h("summary", { text: t("audit.change") }),
    h("pre", { class: "json", text: JSON.stringify({ before, after }, null, 2) }),
  );
}

async function download(path: string): Promise<void> {
  const answer = await request("GET", path, undefined, "text/csv");
  const url = URL.createObjectURL(new Blob([answer.text], { type: "text/csv" }));
  const link = h("a", { href: url, download: "crmcard-audit.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

export const auditPage: Page = {
  id: "audit",
  title: "nav.audit",
  async render() {
    const filters = Object.fromEntries(new URLSearchParams(location.hash.split("?")[1] ?? ""));
    const page = h("section", {}, h("h1", { text: t("audit.title") }), h("p", { class: "intro", text: t("audit.intro") }));
    let entries: Entry[];
    try {
      entries = (await get<{ entries?: Entry[] }>(`${BASE}?${query(filters)}`)).entries ?? [];
    } catch (error) {
      if (!missing(error)) throw error;
      page.append(message("warning", t("common.unavailable")));
      return page;
    }
    const form = h("form", { class: "filters", novalidate: true });
    form.append(
      field({ path: "actor", label: "audit.actor", help: "audit.help.actor" }, filters.actor ?? ""),
      field(
        {
          path: "kind",
          label: "audit.kind",
          kind: "select",
          options: [{ value: "", label: t("audit.kind.all") }, ...KINDS.map((k) => ({ value: k, label: k }))],
        },
        filters.kind ?? "",
      ),
      field({ path: "from", label: "audit.from", kind: "date" }, filters.from ?? ""),
      field({ path: "to", label: "audit.to", kind: "date" }, filters.to ?? ""),
      h(
        "div",
        { class: "actions" },
        submit(t("audit.apply")),
        button(t("audit.csv"), () => download(`${BASE}?${query(values(form))}&format=csv`)),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = Object.fromEntries(
        Object.entries(values(form)).filter(([, v]) => typeof v === "string" && v),
      ) as Record<string, string>;
      location.hash = `#/audit?${new URLSearchParams(chosen)}`;
    });
    page.append(form);
    if (entries.length === 0) {
      page.append(message("info", t("audit.none")));
      return page;
    }
    const newest = [...entries].reverse();
    page.append(
      table(
        [t("audit.col.when"), t("audit.col.actor"), t("audit.col.door"), t("audit.col.kind"), t("audit.col.target"), t("audit.col.change")],
        newest.map((entry) => [
          when(str(entry, "at")),
          str(entry, "actor"),
          str(entry, "door"),
          h("code", { text: str(entry, "kind") }),
          str(entry, "target"),
          change(entry),
        ]),
        t("audit.title"),
      ),
    );
    return page;
  },
};
