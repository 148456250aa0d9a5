// The admin console: the shell (sign-in, navigation, themes), pages rendered in place
// without page reloads (hash routes: #/crms, #/crms/<id>, #/keys ...).
import "@fluentui/web-components/button.js";
import "@fluentui/web-components/text-input.js";
import "@fluentui/web-components/textarea.js";
import "@fluentui/web-components/badge.js";
import { ApiError, get, onRefused, useCredentials } from "./api";
import { EntraSignIn, Session, developmentSession, storedDevelopmentSession, teamsSession } from "./auth";
import { readConfig } from "./config";
import { button, submit, field, h, message, showErrors, values } from "./dom";
import { Key, t, useLocale } from "./i18n";
import { PAGES, Page } from "./pages";
import { applyTheme, browserTheme } from "./theme";

const config = readConfig();
const root = document.getElementById("app") as HTMLElement;
let session: Session | null = null;

function devBanner(): HTMLElement | null {
  if (config.mode !== "development") return null;
  return h(
    "div",
    { id: "dev-banner", class: "banner dev", role: "status" },
    h("strong", { text: t("dev.banner") }),
    " ",
    t("dev.banner.detail", { tenant: config.tenantId ?? "" }),
  );
}

function frame(...children: (Node | null)[]): void {
  root.replaceChildren(...children.filter((c): c is Node => c !== null));
}

function headingFocus(container: HTMLElement): void {
  const heading = container.querySelector<HTMLElement>("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

function signInPage(problem?: string): void {
  const main = h("main", { id: "main", class: "signin" });
  main.append(h("h1", { text: t("signin.title") }));
  if (problem) main.append(message("error", problem));
  if (config.mode === "development") {
    const form = h("form", { class: "form", novalidate: true });
    form.append(
      h("p", { text: t("signin.dev.intro") }),
      field({ path: "adminKey", label: "signin.dev.key", help: "signin.dev.key.help", kind: "secret", required: true }, ""),
      h("div", { class: "actions" }, submit(t("signin.dev.submit"))),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = String(values(form).adminKey ?? "");
      if (!key) {
        showErrors(form, new ApiError(400, t("signin.dev.missing"), [{ path: "adminKey", message: t("signin.dev.missing") }]));
        return;
      }
      void start(developmentSession(key));
    });
    main.append(form);
  } else {
    main.append(
      h("p", { text: t("signin.entra.intro") }),
      button(t("signin.entra.submit"), () => entra?.signIn(), "primary"),
    );
  }
  frame(devBanner(), main);
  headingFocus(main);
}

function notAdminPage(detail: string): void {
  const main = h(
    "main",
    { id: "main", class: "not-admin" },
    h("h1", { text: t("notadmin.title") }),
    h("p", { text: t("notadmin.body") }),
    h("p", { text: t("notadmin.ask") }),
    h("p", { class: "help", text: detail }),
  );
  if (session && session.mode !== "teams") {
    main.append(button(t("shell.signout"), () => signOut()));
  }
  frame(devBanner(), main);
  headingFocus(main);
}

async function signOut(): Promise<void> {
  const current = session;
  session = null;
  useCredentials(null);
  await current?.signOut();
  signInPage();
}

function route(): { page: Page; args: string[] } {
  const path = location.hash.replace(/^#\/?/, "").split("?")[0];
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const page = PAGES.find((p) => p.id === parts[0]) ?? PAGES[0];
  return { page, args: parts.slice(1) };
}

function nav(current: Page): HTMLElement {
  return h(
    "nav",
    { class: "nav", "aria-label": t("shell.nav") },
    h(
      "ul",
      {},
      ...PAGES.map((page) =>
        h(
          "li",
          {},
          h("a", {
            href: `#/${page.id}`,
            "aria-current": page === current ? "page" : undefined,
            text: t(page.title as Key),
          }),
        ),
      ),
    ),
  );
}

let renderToken = 0;

async function render(): Promise<void> {
  if (!session) return;
  const { page, args } = route();
  const token = ++renderToken;
  const main = h("main", { id: "main", class: "page", "aria-busy": "true" });
  const header = h(
    "header",
    { class: "bar" },
    h("span", { class: "product", text: t("shell.product") }),
    session.who ? h("span", { class: "who", text: session.who }) : null,
    session.mode !== "teams" ? button(t("shell.signout"), () => signOut()) : null,
  );
  document.title = `${t(page.title as Key)} — ${t("shell.product")}`;
  frame(devBanner(), header, h("div", { class: "layout" }, nav(page), main));
  try {
    const content = await page.render(args, { refresh: () => void render(), config });
    if (token !== renderToken) return;
    main.replaceChildren(content);
  } catch (error) {
    if (token !== renderToken) return;
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return;
    main.replaceChildren(h("h1", { text: t(page.title as Key) }), message("error", String((error as Error).message ?? error)));
  }
  main.setAttribute("aria-busy", "false");
  headingFocus(main);
}

/** Signed in: who the admin API says we are (a 403 shows "ask your Teams admin"). */
async function start(next: Session): Promise<void> {
  session = next;
  useCredentials(next);
  try {
    const me = await get<{ name?: string; tenantId?: string }>("/api/admin/me");
    if (session === next) next.who = t("shell.who", { name: me.name ?? "", tenant: me.tenantId ?? "" });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return;
  }
  if (session === next) await render();
}

onRefused((error) => {
  if (!session) return;
  if (error.status === 403) {
    notAdminPage(error.message);
    return;
  }
  // 401: the credentials were not accepted; sign in again (Teams: nothing else to try)
  const mode = session.mode;
  if (mode === "teams") {
    notAdminPage(error.message);
    return;
  }
  if (mode === "development") void session.signOut();
  session = null;
  useCredentials(null);
  signInPage(mode === "development" ? t("signin.dev.refused") : t("signin.entra.refused", { message: error.message }));
});

window.addEventListener("hashchange", () => void render());

let entra: EntraSignIn | null = null;

async function boot(): Promise<void> {
  const teams = config.mode === "development" ? null : await teamsSession(applyTheme);
  if (teams) {
    applyTheme(teams.theme);
    await useLocale(teams.locale);
    await start(teams);
    return;
  }
  browserTheme();
  await useLocale(navigator.language);
  if (config.mode === "development") {
    const stored = storedDevelopmentSession();
    if (stored) await start(stored);
    else signInPage();
    return;
  }
  entra = new EntraSignIn(config);
  try {
    const resumed = await entra.resume();
    if (resumed) await start(resumed);
    else signInPage();
  } catch (error) {
    signInPage(t("signin.entra.failed", { message: String((error as Error).message ?? error) }));
  }
}

void boot();
