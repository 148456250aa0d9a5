import type { ConsoleConfig } from "../config";
import type { Key } from "../i18n";

export interface PageContext {
  refresh(): void;
  config: ConsoleConfig;
}

export interface Page {
  id: string;
  title: Key;
  render(args: string[], ctx: PageContext): Promise<HTMLElement>;
}

/** A value from an API answer by dotted path, whatever the case (fooBar / foo_bar). */
export function at(obj: unknown, path: string): unknown {
  let node: unknown = obj;
  for (const part of path.split(".")) {
    if (!node || typeof node !== "object") return undefined;
    const want = part.toLowerCase().replace(/_/g, "");
    const record = node as Record<string, unknown>;
    const key = Object.keys(record).find((k) => k.toLowerCase().replace(/_/g, "") === want);
    node = key === undefined ? undefined : record[key];
  }
  return node;
}

export const str = (obj: unknown, path: string): string => {
  const value = at(obj, path);
  return value === undefined || value === null ? "" : String(value);
};
