// The console's pages, in navigation order.
import { crmsPage } from "./crms";
import { keysPage } from "./keys";
import { policiesPage } from "./policies";
import { writebacksPage } from "./writebacks";
import { auditPage } from "./audit";
import { mappingsPage } from "./mappings";
import type { Page } from "./types";

export type { Page } from "./types";
export const PAGES: Page[] = [crmsPage, mappingsPage, policiesPage, keysPage, writebacksPage, auditPage];
