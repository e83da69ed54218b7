import { deleteFinishedFlowRuns } from "../store/flow-runs.js";
import type { ServiceFactory } from "./index.js";

/**
 * Deletes the flow runs that ended more than `BATON_RUN_RETENTION_DAYS` ago, with everything they
 * hold (see deleteFinishedFlowRuns). Off at 0, the default.
 */
export const runRetentionService: ServiceFactory = (ctx, settings) => ({
  name: "run-retention",
  async runOnce(now) {
    if (settings.runRetentionDays <= 0) return;
    const before = new Date(now.getTime() - settings.runRetentionDays * 86_400_000).toISOString();
    await deleteFinishedFlowRuns(ctx, { before });
  },
});
