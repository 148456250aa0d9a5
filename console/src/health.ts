// A CRM connection's health as GET /api/admin/health reports it (bot/services/health.py):
// its last test, the error rate of its recent calls and its circuit, shown the same way on
// the Overview and on the connection's own page.
import { get, missing } from "./api";
import { h, when } from "./dom";
import { Key, t } from "./i18n";

export interface LastTest {
  ok: boolean;
  outcome: string;
  message: string;
  at: string;
}

export interface ConnectionHealth {
  settingsId: string;
  displayName: string;
  kind: string;
  enabled: boolean;
  lastTest: LastTest | null;
  circuit: "closed" | "open" | "half_open" | "none";
  recentCalls: number;
  recentErrors: number;
  errorRate: number | null;
  windowSeconds: number;
}

export interface Health {
  consent: { required: boolean; consented: boolean; grantedAt: string | null; grantedBy: string | null };
  crms: ConnectionHealth[];
  identification: { windowSeconds: number; interactions: number; identified: number; rate: number | null };
}

/** The tenant's health, or null where this server does not report it. */
export async function fetchHealth(): Promise<Health | null> {
  try {
    return await get<Health>("/api/admin/health");
  } catch (error) {
    if (missing(error)) return null;
    throw error;
  }
}

const CIRCUITS: Record<ConnectionHealth["circuit"], Key> = {
  closed: "overview.circuit.closed",
  open: "overview.circuit.open",
  half_open: "overview.circuit.halfOpen",
  none: "overview.circuit.none",
};

function circuitLabel(circuit: ConnectionHealth["circuit"]): Key {
  return CIRCUITS[circuit] ?? "overview.circuit.none";
}

export function percent(share: number): string {
  return (Math.round(share * 1000) / 10).toLocaleString(document.documentElement.lang || "en");
}

function lastTest(test: LastTest | null): HTMLElement | string {
  if (!test) return t("overview.health.neverTested");
  return test.ok
    ? h("span", { class: "ok", text: t("overview.health.testOk", { when: when(test.at) }) })
    : h("span", { class: "failed", text: t("overview.health.testFailed", { when: when(test.at), message: test.message }) });
}

/** Last test, recent errors, circuit: the Overview's columns for one connection. */
export function healthCells(c: ConnectionHealth): (HTMLElement | string)[] {
  return [
    lastTest(c.lastTest),
    c.recentCalls === 0
      ? t("overview.health.noCalls")
      : t("overview.health.errorRate", { rate: percent(c.errorRate ?? 0), calls: c.recentCalls }),
    h("span", { class: `circuit circuit-${c.circuit}`, text: t(circuitLabel(c.circuit)) }),
  ];
}

/** The same, as one labelled line for the connection's page. */
export function healthLine(c: ConnectionHealth): HTMLElement {
  const [tested, errors, circuit] = healthCells(c);
  const minutes = Math.round(c.windowSeconds / 60);
  return h(
    "p",
    { class: "health", "data-part": "crm-health" },
    `${t("overview.health.lastTest")}: `,
    tested,
    ` · ${t("overview.health.errors", { n: minutes })}: `,
    errors,
    ` · ${t("overview.health.circuit")}: `,
    circuit,
  );
}
