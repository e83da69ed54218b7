import { actionsService } from "./actions.js";
import { automationsService } from "./automations.js";
import { crashedRunsService } from "./crashed-runs.js";
import { eventRetentionService } from "./event-retention.js";
import type { ServiceFactory } from "./index.js";
import { lateRunsService } from "./late-runs.js";
import { offlineWorkersService } from "./offline-workers.js";
import { pausedRunsService } from "./paused-runs.js";
import { runRetentionService } from "./run-retention.js";
import { schedulerService } from "./scheduler.js";

/** The background services a server runs, in the order they start. */
export const SERVICES: readonly ServiceFactory[] = [
  schedulerService,
  lateRunsService,
  crashedRunsService,
  pausedRunsService,
  offlineWorkersService,
  automationsService,
  actionsService,
  eventRetentionService,
  runRetentionService,
];
