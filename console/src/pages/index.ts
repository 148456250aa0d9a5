// The console's pages, in navigation order.
import { crmsPage } from "./crms";
import { keysPage } from "./keys";
import { policiesPage } from "./policies";
import { writebacksPage } from "./writebacks";
import type { Page } from "./types";

export type { Page } from "./types";
export const PAGES: Page[] = [crmsPage, policiesPage, keysPage, writebacksPage];
