// The flows the chaos suite runs (workers load them by entrypoint, serve processes import them). Each
// execution writes what its code does to the external ledger, and logs a numbered line per step.
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { currentRun, flow, task } from "@baton/sdk";
import { ledgerFolder, LedgerWriter } from "./ledger.js";

/** The tag whose concurrency limit the slot-holding task takes. */
export const SLOT_TAG = "chaos-slot";

/** The execution of each flow run in this process (a serve process carries out several at once). */
const writers = new Map<string, LedgerWriter>();

/** Holds a slot of SLOT_TAG for `ms`; the ledger shows when. */
const holdSlot = task({ name: "hold-slot", tags: [SLOT_TAG] }, async (ms: number) => {
  const run = currentRun()!;
  const ledger = writers.get(run.flowRunId!)!;
  ledger.write("slot");
  await sleep(ms, undefined, { signal: run.signal });
  ledger.write("unslot");
});

/** Retries, so that a crashed run is carried out again (at least once) rather than left CRASHED. */
export const steps = flow(
  {
    name: "chaos-steps",
    retries: 5,
    retryDelaySeconds: 0,
    parameters: z.object({
      steps: z.number().int().min(1),
      stepMs: z.number().min(0),
      /** Hold a tag slot this long first. */
      slotMs: z.number().min(0).optional(),
    }),
  },
  async ({ steps: count, stepMs, slotMs }, { flowRunId, attempt, logger, signal }) => {
    const ledger = new LedgerWriter(ledgerFolder(), flowRunId!, attempt ?? null);
    writers.set(flowRunId!, ledger);
    try {
      ledger.write("start");
      if (slotMs !== undefined) await holdSlot(slotMs);
      for (let i = 1; i <= count; i++) {
        logger.info(`${ledger.exec} step ${i}`);
        ledger.write("step", i);
        await sleep(stepMs, undefined, { signal });
      }
      ledger.write("end");
      return count;
    } finally {
      writers.delete(flowRunId!);
    }
  },
);
