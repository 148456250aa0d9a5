// CRM connections: list, add and edit per kind, test, enable/disable, delete.
import { get, send } from "../api";
import { KINDS, kindForm } from "../crm_kinds";
import { fetchHealth, healthLine } from "../health";
import { button, confirmButton, field, h, message, onSubmit, submit, table, values, when } from "../dom";
import { Key, has, t } from "../i18n";
import { Page, at, str } from "./types";

type Crm = Record<string, unknown>;

const BASE = "/api/admin/crms";
const one = (id: string): string => `${BASE}/${encodeURIComponent(id)}`;

async function list(): Promise<Crm[]> {
  const answer = await get<{ crms?: Crm[] }>(BASE);
  return answer.crms ?? [];
}

function go(hash: string): void {
  location.hash = hash;
}

function statusBadge(crm: Crm): HTMLElement {
  const enabled = at(crm, "enabled") !== false;
  return h("fluent-badge", { appearance: "tint", color: enabled ? "success" : "subtle" }, t(enabled ? "crm.enabled" : "crm.disabled"));
}

async function listPage(): Promise<HTMLElement> {
  const crms = await list();
  const page = h("section", {}, h("h1", { text: t("crm.title") }), h("p", { class: "intro", text: t("crm.intro") }));
  page.append(h("div", { class: "actions" }, button(t("crm.add"), () => go("#/crms/new"), "primary")));
  if (crms.length === 0) {
    page.append(message("info", t("crm.none")));
    return page;
  }
  page.append(
    table(
      [t("crm.col.name"), t("crm.col.kind"), t("crm.col.status"), t("crm.col.updated")],
      crms.map((crm) => [
        h("a", { href: `#/crms/${encodeURIComponent(str(crm, "settingsId"))}`, text: str(crm, "displayName") || str(crm, "settingsId") }),
        kindLabel(str(crm, "kind")),
        statusBadge(crm),
        when(str(crm, "updatedAt")),
      ]),
      t("crm.title"),
    ),
  );
  return page;
}

function kindLabel(kind: string): string {
  const key = `crm.kind.${kind}`;
  return has(key) ? t(key) : kind;
}

/** The form for one kind; ``current`` is the stored configuration when editing. */
function form(kind: string, current: Crm | null, onKind: (kind: string) => void): HTMLElement {
  const spec = kindForm(kind);
  const authType = str(current, "auth.type");
  let chosen = spec.auth.find((a) => a.type === authType) ?? spec.auth[0];
  const hasSecret = at(current, "hasSecret") === true;
  const authBox = h("div", { class: "group" });
  const renderAuth = (): void => {
    const secretField = chosen.secret ? [field(chosen.secret, "", hasSecret)] : [];
    authBox.replaceChildren(...chosen.fields.map((f) => field(f, at(current, f.path))), ...secretField);
  };
  const el = h("form", { class: "form", novalidate: true, "data-kind": spec.kind });
  el.append(
    field(
      {
        path: "kind",
        label: "crm.field.kind",
        help: "crm.help.kind",
        kind: "select",
        options: KINDS.map((k) => ({ value: k.kind, label: t(k.label) })),
        onchange: onKind,
      },
      spec.kind,
    ),
  );
  if (current) {
    el.querySelector<HTMLSelectElement>("select[data-path=kind]")?.setAttribute("disabled", "");
  } else {
    el.append(field({ path: "settingsId", label: "crm.field.settings_id", help: "crm.help.settings_id", required: true }, ""));
  }
  el.append(
    field({ path: "displayName", label: "crm.field.display_name", help: "crm.help.display_name", required: true }, at(current, "displayName")),
    field({ path: "baseUrl", label: "crm.field.base_url", help: spec.baseUrlHelp, kind: "url", required: true }, at(current, "baseUrl")),
  );
  if (spec.auth.length > 1) {
    el.append(
      field(
        {
          path: "auth.type",
          label: "crm.field.auth",
          help: "crm.help.auth",
          kind: "select",
          options: spec.auth.map((a) => ({ value: a.type, label: t(a.label) })),
          onchange: (value) => {
            chosen = spec.auth.find((a) => a.type === value) ?? spec.auth[0];
            renderAuth();
          },
        },
        chosen.type,
      ),
    );
  }
  renderAuth();
  el.append(authBox);
  if (spec.delegable) el.append(accessField(str(current, "access") || "application"));
  if (spec.extra?.length) {
    el.append(h("fieldset", { class: "group" }, h("legend", { text: t("crm.more") }), ...spec.extra.map((f) => field(f, at(current, f.path)))));
  }
  el.dataset.authTypes = spec.auth.map((a) => a.type).join(",");
  (el as HTMLFormElement & { chosenAuth?: () => string }).chosenAuth = () => chosen.type;
  return el;
}

/** Whose access the CRM is called with; only for kinds whose API takes "delegated". */
function accessField(access: string): HTMLElement {
  return field(
    {
      path: "access",
      label: "crm.field.access",
      help: "crm.help.dynamics.access",
      kind: "select",
      options: [
        { value: "application", label: t("crm.access.application") },
        { value: "delegated", label: t("crm.access.delegated") },
      ],
    },
    access,
  );
}

/** The request body from the form: the chosen auth type, the secret apart. */
function body(el: HTMLElement): { config: Record<string, unknown>; secret: string | null } {
  const raw = values(el);
  const authType = (el as HTMLFormElement & { chosenAuth?: () => string }).chosenAuth?.() ?? "";
  const secret = typeof raw.secret === "string" ? raw.secret : null;
  delete raw.secret;
  const auth = (raw.auth ?? {}) as Record<string, unknown>;
  delete raw.auth;
  const config: Record<string, unknown> = { ...raw };
  if (authType) config.auth = { ...auth, type: authType };
  return { config, secret };
}

async function newPage(kind: string): Promise<HTMLElement> {
  const page = h("section", {}, h("h1", { text: t("crm.new.title") }));
  const el = form(kind, null, (next) => {
    void newPage(next).then((fresh) => page.replaceWith(fresh));
  });
  const said = onSubmit(el, async () => {
    const { config, secret } = body(el);
    const created = await send<Crm>("POST", BASE, secret ? { ...config, secret } : config);
    go(`#/crms/${encodeURIComponent(str(created, "settingsId"))}`);
  });
  el.append(h("div", { class: "actions" }, submit(t("crm.save")), button(t("common.cancel"), () => go("#/crms")), said));
  page.append(el);
  return page;
}

const TEST_HINTS: Record<string, Key> = {
  ok: "crm.test.ok",
  auth_failed: "crm.test.auth_failed",
  unavailable: "crm.test.unavailable",
  throttled: "crm.test.throttled",
  timeout: "crm.test.timeout",
  not_supported: "crm.test.not_supported",
  invalid: "crm.test.invalid",
  permission_missing: "crm.test.permission_missing",
  error: "crm.test.error",
};

function testResult(result: Record<string, unknown>): HTMLElement {
  const ok = at(result, "ok") === true;
  const outcome = str(result, "outcome") || (ok ? "ok" : "error");
  return message(
    ok ? "success" : "error",
    h("strong", { text: t(TEST_HINTS[outcome] ?? "crm.test.error") }),
    h("div", { class: "vendor-message", text: str(result, "message") }),
    h("div", { class: "help", text: t("crm.test.elapsed", { ms: Math.round(Number(at(result, "elapsedMs") ?? 0)) }) }),
  );
}

async function detailPage(id: string, refresh: () => void): Promise<HTMLElement> {
  const [crm, health] = await Promise.all([get<Crm>(one(id)), fetchHealth()]);
  const fares = (from: typeof health) => from?.crms.find((c) => c.settingsId === id);
  const known = fares(health);
  const line = h("div", {}, known ? healthLine(known) : null);
  const enabled = at(crm, "enabled") !== false;
  const page = h("section", {}, h("h1", { text: str(crm, "displayName") || id }));
  const result = h("div", { class: "test-result", "aria-live": "polite" });
  let testing = false;
  page.append(
    h("p", { class: "intro" }, kindLabel(str(crm, "kind")), " · ", statusBadge(crm), " · ", t("crm.updated", { when: when(str(crm, "updatedAt")), by: str(crm, "updatedBy") })),
    line,
    h(
      "div",
      { class: "actions" },
      button(t("crm.test"), async () => {
        if (testing) return;
        testing = true;
        result.replaceChildren(message("info", t("crm.test.running")));
        try {
          result.replaceChildren(testResult(await send<Record<string, unknown>>("POST", `${one(id)}/test`)));
          const now = fares(await fetchHealth());
          if (now) line.replaceChildren(healthLine(now));
        } catch (error) {
          result.replaceChildren(message("error", (error as Error).message));
        } finally {
          testing = false;
        }
      }, "primary"),
      enabled
        ? confirmButton(t("crm.disable"), { title: t("crm.disable.title"), body: t("crm.disable.body") }, async () => {
            await send("POST", `${one(id)}/disable`);
            refresh();
          })
        : button(t("crm.enable"), async () => {
            await send("POST", `${one(id)}/enable`);
            refresh();
          }),
      confirmButton(t("crm.delete"), { title: t("crm.delete.title"), body: t("crm.delete.body", { name: str(crm, "displayName") }) }, async () => {
        await send("DELETE", one(id));
        go("#/crms");
      }),
    ),
    result,
  );
  const el = form(str(crm, "kind"), crm, () => undefined);
  const saved = onSubmit(el, async () => {
    const { config, secret } = body(el);
    delete config.kind;
    await send("PATCH", one(id), config);
    if (secret) await send("POST", `${one(id)}/rotate-secret`, { secret });
    return t("crm.saved");
  });
  el.append(h("div", { class: "actions" }, submit(t("crm.save")), saved));
  page.append(h("h2", { text: t("crm.settings") }), el);
  return page;
}

export const crmsPage: Page = {
  id: "crms",
  title: "nav.crms",
  async render(args, ctx) {
    if (args[0] === "new") return newPage(new URLSearchParams(location.hash.split("?")[1]).get("kind") ?? "rest");
    if (args[0]) return detailPage(args[0], ctx.refresh);
    return listPage();
  },
};
