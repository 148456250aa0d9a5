// What the server tells the page about signing in (embedded in /admin, never secret).
export interface ConsoleConfig {
  mode: "development" | "entra";
  tenantId?: string;
  clientId?: string;
  authority?: string;
  knownAuthorities?: string[];
  scopes?: string[];
  redirectUri?: string;
  consentUrl?: string;
}

export function readConfig(): ConsoleConfig {
  const node = document.getElementById("console-config");
  try {
    return JSON.parse(node?.textContent || "{}") as ConsoleConfig;
  } catch {
    return { mode: "entra" };
  }
}
