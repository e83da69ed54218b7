import { deleteFinishedFlowRuns } from "../store/flow-runs.js";
import type { ServiceFactory } from "./index.js";

const PASS_EVERY_MS = 60_000;
const daysBefore = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();

/**
 * Deletes the flow runs that ended more than their retention period ago, with everything they hold
 * (see deleteFinishedFlowRuns): a deployment's own `runRetentionDays`, else `BATON_RUN_RETENTION_DAYS`
 * (0, the default, keeps them).
 */
export const runRetentionService: ServiceFactory = (ctx, settings) => {
  let lastPass = Number.NEGATIVE_INFINITY;
  return {
    name: "run-retention",
    async runOnce(now) {
      // Days of retention need no five-second precision: a pass a minute keeps the store's work small.
      if (now.getTime() - lastPass < PASS_EVERY_MS) return;
      lastPass = now.getTime();
      const own = await ctx.db.kysely
        .selectFrom("deployments")
        .select(["id", "runRetentionDays"])
        .where("runRetentionDays", "is not", null)
        .execute();
      for (const deployment of own) {
        await deleteFinishedFlowRuns(
          ctx,
          { before: daysBefore(now, deployment.runRetentionDays!) },
          { deploymentId: deployment.id },
        );
      }
      if (settings.runRetentionDays > 0) {
        await deleteFinishedFlowRuns(
          ctx,
          { before: daysBefore(now, settings.runRetentionDays) },
          "without-own-retention",
        );
      }
    },
  };
};
