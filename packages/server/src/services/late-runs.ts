import { makeState } from "@baton/core";
import type { ExpressionBuilder } from "kysely";
import type { Database } from "../db/schema.js";
import { publishStateChange, transitionInTransaction } from "../store/set-state.js";
import type { ServiceFactory } from "./index.js";

/**
 * Marks Late the runs still Scheduled `lateRunsAfterSeconds` after their time (as Prefect does, only
 * those named Scheduled: an AwaitingRetry or Rescheduled run keeps its name and message). Late is
 * still a SCHEDULED state with the same scheduled time, so workers claim a Late run as before.
 */
export const lateRunsService: ServiceFactory = (ctx, settings) => ({
  name: "late-runs",
  async runOnce(now) {
    const cutoff = new Date(now.getTime() - settings.lateRunsAfterSeconds * 1000).toISOString();
    const late = (eb: ExpressionBuilder<Database, "flowRuns">) =>
      eb.and([
        eb("stateType", "=", "SCHEDULED"),
        eb("stateName", "=", "Scheduled"),
        eb("nextScheduledStartTime", "<", cutoff),
      ]);
    const candidates = await ctx.db.kysely.selectFrom("flowRuns").select("id").where(late).execute();
    // One transaction per run: it locks that run only, so it cannot deadlock with a claim.
    for (const { id } of candidates) {
      const applied = await ctx.db.kysely.transaction().execute(async (trx) => {
        // Lock the run, and look again: a worker may have claimed it (or it was marked Late) since.
        const locked = await trx
          .updateTable("flowRuns")
          .set((eb) => ({ updated: eb.ref("updated") }))
          .where("id", "=", id)
          .where(late)
          .returning("nextScheduledStartTime")
          .executeTakeFirst();
        if (!locked) return null;
        const state = makeState({
          type: "SCHEDULED",
          name: "Late",
          scheduledTime: locked.nextScheduledStartTime,
        });
        return transitionInTransaction(trx, "flow", id, state, { force: false });
      });
      if (applied) publishStateChange(ctx, applied);
    }
  },
});
