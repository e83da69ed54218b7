import { EventName } from "@baton/core";
import { recordEvents } from "../store/events.js";
import { workerIsOnline } from "../store/work-pools.js";
import type { ServiceFactory } from "./index.js";

/**
 * Announces `worker.offline` once when a worker's heartbeats stop (three intervals missed): the
 * worker is marked in the same transaction as its event is stored, and a heartbeat unmarks it.
 */
export const offlineWorkersService: ServiceFactory = (ctx) => ({
  name: "offline-workers",
  async runOnce(now) {
    const candidates = await ctx.db.kysely
      .selectFrom("workers")
      .innerJoin("workPools", "workPools.id", "workers.workPoolId")
      .select([
        "workers.id",
        "workers.name",
        "workers.lastHeartbeat",
        "workers.heartbeatIntervalSeconds",
        "workPools.name as workPoolName",
      ])
      .where("workers.offlineSince", "is", null)
      .execute();
    for (const worker of candidates) {
      if (workerIsOnline(worker, now.getTime())) continue;
      const events = await ctx.db.kysely.transaction().execute(async (trx) => {
        // Unless it sent a heartbeat, or another server announced it, since it was read.
        const marked = await trx
          .updateTable("workers")
          .set({ offlineSince: now.toISOString() })
          .where("id", "=", worker.id)
          .where("offlineSince", "is", null)
          .where("lastHeartbeat", "=", worker.lastHeartbeat)
          .executeTakeFirst();
        if (marked.numUpdatedRows === 0n) return [];
        const { workPoolName, ...payload } = worker;
        return recordEvents(trx, [
          {
            name: EventName.WorkerOffline,
            resource: { kind: "worker", id: worker.id },
            flowRunId: null,
            payload: { worker: payload },
            related: { workPoolName },
          },
        ]);
      });
      for (const event of events) ctx.events.emit(event);
    }
  },
});
