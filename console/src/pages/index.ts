// The console's pages, in navigation order.
import { crmsPage } from "./crms";
import { keysPage } from "./keys";
import { policiesPage } from "./policies";
import { routingPage } from "./routing";
import { workflowsPage } from "./workflows";
import { writebacksPage } from "./writebacks";
import { auditPage } from "./audit";
import { mappingsPage } from "./mappings";
import { overviewPage } from "./overview";
import type { Page } from "./types";

export type { Page } from "./types";
export const PAGES: Page[] = [overviewPage, crmsPage, mappingsPage, workflowsPage, policiesPage, routingPage, keysPage, writebacksPage, auditPage];
