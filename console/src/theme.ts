// Teams themes (default, dark, contrast) as Fluent design tokens on the document; outside
// Teams ?theme= or the system preference decides.
import { setTheme } from "@fluentui/web-components";
import { teamsDarkTheme, teamsHighContrastTheme, teamsLightTheme } from "@fluentui/tokens";

export type Theme = "default" | "dark" | "contrast";

export function applyTheme(requested: string | null | undefined): Theme {
  const theme: Theme = requested === "dark" || requested === "contrast" ? requested : "default";
  const tokens =
    theme === "dark" ? teamsDarkTheme : theme === "contrast" ? teamsHighContrastTheme : teamsLightTheme;
  setTheme(tokens as unknown as Record<string, string | number>);
  document.documentElement.dataset.theme = theme;
  return theme;
}

function systemTheme(): Theme {
  const contrast = window.matchMedia("(forced-colors: active)").matches;
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  return applyTheme(contrast ? "contrast" : dark ? "dark" : "default");
}

/** Outside Teams: ?theme=default|dark|contrast, else the system's, followed as it changes. */
export function browserTheme(): Theme {
  const forced = new URLSearchParams(location.search).get("theme");
  if (forced) return applyTheme(forced);
  for (const query of ["(prefers-color-scheme: dark)", "(forced-colors: active)"]) {
    window.matchMedia(query).addEventListener("change", () => systemTheme());
  }
  return systemTheme();
}
