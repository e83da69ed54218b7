import { crashedRunsService } from "./crashed-runs.js";
import type { ServiceFactory } from "./index.js";
import { lateRunsService } from "./late-runs.js";
import { schedulerService } from "./scheduler.js";

/** The background services a server runs, in the order they start. */
export const SERVICES: readonly ServiceFactory[] = [schedulerService, lateRunsService, crashedRunsService];
