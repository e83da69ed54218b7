import { makeState, type State } from "@baton/core";
import { fromJson } from "../store/context.js";
import { lockedState, pauseTimedOut } from "../store/pauses.js";
import { publishStateChange, transitionInTransaction } from "../store/set-state.js";
import type { ServiceFactory } from "./index.js";

/**
 * Fails the paused runs nobody resumed before their pause's timeout ("TimedOut", saying which pause).
 * A run paused in its process learns it from its events and ends; a suspended one has no process.
 */
export const pausedRunsService: ServiceFactory = (ctx) => ({
  name: "paused-runs",
  async runOnce(now) {
    // Few runs wait at once, and the timeout lives in the state: read them all, decide here.
    const paused = await ctx.db.kysely
      .selectFrom("flowRuns")
      .select(["id", "state"])
      .where("stateType", "=", "PAUSED")
      .execute();
    const expired = (state: State | null) =>
      state?.type === "PAUSED" && !!state.pause?.timeout && Date.parse(state.pause.timeout) <= now.getTime();
    for (const { id, state } of paused) {
      if (!expired(fromJson<State | null>(state, null))) continue;
      const applied = await ctx.db.kysely.transaction().execute(async (trx) => {
        // Lock the run and look again: it may have been resumed since.
        const current = await lockedState(trx, id);
        if (!current || !expired(current)) return null;
        const failed = makeState({ type: "FAILED", name: "TimedOut", message: pauseTimedOut(current) });
        return transitionInTransaction(trx, "flow", id, failed, { force: false });
      });
      if (applied) publishStateChange(ctx, applied);
    }
  },
});
