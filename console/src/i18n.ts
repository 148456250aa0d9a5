// Every string the console shows comes from the catalogue: English is bundled, other
// languages (same keys, `{name}` placeholders) are fetched from /admin/locales/<lang>.json;
// a key missing there falls back to English.
import en from "../../bot/i18n/locales/en/admin.json";

export type Key = keyof typeof en;
type Vars = Record<string, string | number>;

let active: Partial<Record<Key, string>> = en;
let activeLanguage = "en";

/** The console's language: the server answers (refusals included) in it too. */
export function language(): string {
  return activeLanguage;
}

export function t(key: Key, vars: Vars = {}): string {
  const text = active[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

export function has(key: string): key is Key {
  return key in en;
}

export async function useLocale(requested: string | undefined): Promise<string> {
  const lang = (requested || "en").slice(0, 2).toLowerCase();
  if (lang === "en" || !/^[a-z]{2}$/.test(lang)) return "en";
  try {
    const response = await fetch(`/admin/locales/${lang}.json`);
    if (!response.ok) return "en";
    active = { ...en, ...(await response.json()) };
    document.documentElement.lang = lang;
    activeLanguage = lang;
    return lang;
  } catch {
    return "en";
  }
}
