// The one way the console talks to crmcard: /api/admin/... with the session's credentials.
// Errors are read from the common problem body (RFC 9457 application/problem+json, every
// field error listed); older shapes ({"error": {message, details}}) are read too.
// Requests ask for the console's own language, so refusals read as the rest of the page.
import { language } from "./i18n";

export interface FieldError {
  path: string; // dotted, e.g. "auth.clientId"
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fieldErrors: FieldError[] = [],
  ) {
    super(message);
  }
}

export interface Credentials {
  headers(): Promise<Record<string, string>>;
}

type Listener = (error: ApiError) => void;
let credentials: Credentials | null = null;
const refusals: Listener[] = [];

export function useCredentials(next: Credentials | null): void {
  credentials = next;
}

/** Called on every 401/403 answer: the shell shows sign-in or "ask your Teams admin". */
export function onRefused(listener: Listener): void {
  refusals.push(listener);
}

function pathOf(raw: unknown): string {
  if (Array.isArray(raw)) return raw.filter((part) => part !== "body").join(".");
  if (typeof raw === "string") return raw.replace(/^#?\//, "").split("/").join(".");
  return "";
}

function problemOf(status: number, body: unknown): ApiError {
  const outer = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const inner = (outer.error && typeof outer.error === "object" ? outer.error : {}) as Record<
    string,
    unknown
  >;
  const message = String(
    outer.detail ?? inner.message ?? outer.title ?? outer.message ?? `HTTP ${status}`,
  );
  const list = (outer.errors ?? outer.invalidParams ?? inner.details ?? []) as unknown[];
  const fields: FieldError[] = [];
  for (const item of Array.isArray(list) ? list : []) {
    if (!item || typeof item !== "object") continue;
    const e = item as Record<string, unknown>;
    fields.push({
      path: pathOf(e.pointer ?? e.loc ?? e.name ?? e.field),
      message: String(e.detail ?? e.msg ?? e.message ?? e.reason ?? ""),
    });
  }
  return new ApiError(status, message, fields);
}

export interface Answer<T> {
  status: number;
  body: T;
  text: string;
}

export async function request<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  accept = "application/json",
): Promise<Answer<T>> {
  const headers: Record<string, string> = {
    Accept: accept,
    "Accept-Language": language(),
    ...(credentials ? await credentials.headers() : {}),
  };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = null;
  if (text && (response.headers.get("Content-Type") || "").includes("json")) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const error = problemOf(response.status, parsed);
    if (response.status === 401 || response.status === 403) refusals.forEach((l) => l(error));
    throw error;
  }
  return { status: response.status, body: parsed as T, text };
}

export async function get<T>(path: string): Promise<T> {
  return (await request<T>("GET", path)).body;
}

export async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await request<T>(method, path, body)).body;
}

/** The route is not on this server (yet): the page says so instead of failing. */
export function missing(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}
