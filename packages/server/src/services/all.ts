import type { ServiceFactory } from "./index.js";

/** The background services a server runs, in the order they start. */
export const SERVICES: readonly ServiceFactory[] = [];
