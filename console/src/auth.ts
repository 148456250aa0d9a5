// Who is signed in, three ways:
// - inside Teams: Teams SSO (authentication.getAuthToken) -- the token for crmcard's app;
// - in a browser: Entra ID sign-in with MSAL (authorization code + PKCE, redirect);
// - DEVELOPMENT MODE (the server has no MicrosoftAppId): no Entra at all; the operator's
//   bootstrap admin key is typed in and sent as X-Admin-Key. The shell says so loudly.
import { PublicClientApplication, InteractionRequiredAuthError } from "@azure/msal-browser";
import type { AccountInfo } from "@azure/msal-browser";
import type { ConsoleConfig } from "./config";
import type { Credentials } from "./api";

export type Mode = "development" | "teams" | "entra";

export interface Session extends Credentials {
  mode: Mode;
  who: string; // shown in the header; set from /api/admin/me once signed in
  theme?: string;
  locale?: string;
  signOut(): Promise<void>;
}

const KEY_STORAGE = "crmcard.console.adminKey";

export function developmentSession(key: string): Session {
  sessionStorage.setItem(KEY_STORAGE, key);
  return {
    mode: "development",
    who: "",
    async headers() {
      return { "X-Admin-Key": key };
    },
    async signOut() {
      sessionStorage.removeItem(KEY_STORAGE);
    },
  };
}

export function storedDevelopmentSession(): Session | null {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? developmentSession(key) : null;
}

/** Teams hosts the console in a frame; outside a frame there is no Teams to ask. */
export async function teamsSession(
  onTheme: (theme: string) => void,
  timeoutMs = 3000,
): Promise<Session | null> {
  if (window.parent === window) return null;
  const { app: teamsApp, authentication } = await import("@microsoft/teams-js");
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs));
  const started = teamsApp.initialize().then(() => true).catch(() => false);
  if (!(await Promise.race([started, timeout]))) return null;
  const context = await teamsApp.getContext();
  teamsApp.registerOnThemeChangeHandler(onTheme);
  return {
    mode: "teams",
    who: context.user?.userPrincipalName ?? "",
    theme: context.app.theme,
    locale: context.app.locale,
    async headers() {
      return { Authorization: `Bearer ${await authentication.getAuthToken()}` };
    },
    async signOut() {},
  };
}

export class EntraSignIn {
  private readonly msal: PublicClientApplication;
  private account: AccountInfo | null = null;

  constructor(private readonly config: ConsoleConfig) {
    this.msal = new PublicClientApplication({
      auth: {
        clientId: config.clientId ?? "",
        authority: config.authority,
        knownAuthorities: config.knownAuthorities,
        redirectUri: config.redirectUri ?? `${location.origin}/admin`,
        postLogoutRedirectUri: config.redirectUri ?? `${location.origin}/admin`,
      },
      cache: { cacheLocation: "sessionStorage" },
    });
  }

  /** The signed-in session after a redirect back from Entra, or null (sign in first). */
  async resume(): Promise<Session | null> {
    await this.msal.initialize();
    const result = await this.msal.handleRedirectPromise();
    this.account = result?.account ?? this.msal.getAllAccounts()[0] ?? null;
    if (!this.account) return null;
    this.msal.setActiveAccount(this.account);
    const scopes = this.config.scopes ?? [];
    const account = this.account;
    return {
      mode: "entra",
      who: account.username,
      headers: async () => {
        try {
          const token = await this.msal.acquireTokenSilent({ scopes, account });
          return { Authorization: `Bearer ${token.accessToken}` };
        } catch (error) {
          if (error instanceof InteractionRequiredAuthError) {
            await this.msal.acquireTokenRedirect({ scopes, account });
          }
          throw error;
        }
      },
      signOut: async () => {
        await this.msal.logoutRedirect({ account });
      },
    };
  }

  async signIn(): Promise<void> {
    await this.msal.loginRedirect({ scopes: this.config.scopes ?? [] });
  }
}
