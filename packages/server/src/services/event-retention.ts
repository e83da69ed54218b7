import type { ServiceFactory } from "./index.js";

/**
 * Deletes stored events older than `BATON_EVENT_RETENTION_DAYS` once the automations have seen them,
 * and finished action runs as old (pending ones stay until they are delivered or fail).
 */
export const eventRetentionService: ServiceFactory = (ctx, settings) => ({
  name: "event-retention",
  async runOnce(now) {
    const cutoff = new Date(now.getTime() - settings.eventRetentionDays * 86_400_000).toISOString();
    await ctx.db.kysely
      .deleteFrom("events")
      .where("occurred", "<", cutoff)
      .where("processed", "=", 1)
      .execute();
    await ctx.db.kysely
      .deleteFrom("actionRuns")
      .where("updated", "<", cutoff)
      .where("status", "!=", "PENDING")
      .execute();
  },
});
