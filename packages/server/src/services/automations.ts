import {
  EventName,
  AutomationCreate,
  combinedStateOf,
  isCombinedTrigger,
  isEventTrigger,
  isMetricTrigger,
  metricStateOf,
  metricValue,
  observeMetric,
  matchesTrigger,
  observeCombined,
  newId,
  observeMatch,
  proactiveDue,
  resolveActions,
  isStoredEventName,
  templateValues,
  type ActionAttempt,
  type MetricReading,
  type Automation,
  type StoredEvent,
} from "@baton/core";
import type { ExpressionBuilder, Insertable, Selectable, Transaction } from "kysely";
import type { ActionRunTable, AutomationTable, Database } from "../db/schema.js";
import { metricSample } from "../store/automation-metrics.js";
import { toAutomation } from "../store/automations.js";
import { fromJson, nowIso, toJson, type StoreContext } from "../store/context.js";
import { toStoredEvent } from "../store/events.js";
import type { ServiceFactory } from "./index.js";

type Trx = Transaction<Database>;

/** Events matched per transaction. */
const BATCH = 500;
/** Metric triggers are measured at most this often. */
const METRICS_GAP_MS = 1000;

const Workable = AutomationCreate.pick({ trigger: true, actions: true });

/**
 * The automations as the services use them. One stored before triggers and actions had a schema
 * may not fit it: it is left alone rather than stopping every other automation.
 */
const usable = (rows: Selectable<AutomationTable>[]) =>
  rows.flatMap((row) => {
    const automation = toAutomation(row);
    const { trigger, actions } = automation;
    return Workable.safeParse({ trigger, actions }).success ? [{ row, automation }] : [];
  });

interface Firing {
  automation: Automation;
  /** null: a proactive trigger fired because no event came, or a metric trigger fired. */
  event: StoredEvent | null;
  /** A metric trigger's: the value that fired it. */
  reading?: MetricReading;
}

/**
 * Matches stored events against the enabled automations and enqueues an action run for each action
 * of an automation that fires, in the transaction that marks the events processed: an event is
 * either still waiting or has its action runs stored, so a restart loses nothing. Then fires the
 * proactive triggers whose window passed without a matching event. The actions service delivers.
 */
export const automationsService: ServiceFactory = (ctx, settings) => {
  const dashboardUrl = settings.uiUrl ?? "";
  let measured = 0;
  return {
    name: "automations",
    // Baton's stored events and every custom one.
    wakeOn: isStoredEventName,
    // Notifications may wait a few milliseconds; a transaction per state change may not.
    wakeDelayMs: 50,
    async runOnce(now) {
      if (await doneWithoutAutomations(ctx)) return;
      while (await matchBatch(ctx, dashboardUrl)) {
        // Until every waiting event is matched.
      }
      await fireProactive(ctx, dashboardUrl, now);
      // Passes come with every event; the runs' numbers need not be counted again for each.
      if (now.getTime() - measured >= METRICS_GAP_MS) {
        measured = now.getTime();
        await evaluateMetrics(ctx, dashboardUrl, now);
      }
    },
  };
};

/**
 * With no automation enabled (the common case, and a pass comes every 50 ms on a busy server) every
 * waiting event is done with in one statement and the pass ends: two statements, where matching,
 * proactive triggers and metrics would read the automations three times. The events are marked only
 * while the statement finds none enabled, so an automation enabled meanwhile matches every event
 * stored after it (as in matchBatch, against the automations enabled when the pass reads them).
 */
async function doneWithoutAutomations({ db }: StoreContext): Promise<boolean> {
  const enabled = (eb: ExpressionBuilder<Database, "events">) =>
    eb.exists(eb.selectFrom("automations").select("automations.id").where("automations.enabled", "=", 1));
  const any = await db.kysely
    .selectFrom("automations")
    .select("id")
    .where("enabled", "=", 1)
    .limit(1)
    .executeTakeFirst();
  if (any) return false;
  await db.kysely
    .updateTable("events")
    .set({ processed: 1 })
    .where("processed", "=", 0)
    .where((eb) => eb.not(enabled(eb)))
    .execute();
  return true;
}

/** Matches one batch of waiting events; true when there may be more. */
async function matchBatch(ctx: StoreContext, dashboardUrl: string): Promise<boolean> {
  const { more, fired } = await ctx.db.kysely.transaction().execute(async (trx) => {
    // Lock the enabled automations: their windows are counted by one server at a time.
    await trx
      .updateTable("automations")
      .set((eb) => ({ updated: eb.ref("updated") }))
      .where("enabled", "=", 1)
      .execute();
    const rows = await trx.selectFrom("automations").selectAll().where("enabled", "=", 1).execute();
    // Disabled since doneWithoutAutomations looked: the next pass does with the events.
    if (rows.length === 0) return { more: false, fired: [] };
    const waiting = await trx
      .selectFrom("events")
      .selectAll()
      .where("processed", "=", 0)
      .orderBy("seq")
      .limit(BATCH)
      .execute();
    if (waiting.length === 0) return { more: false, fired: [] };
    // Only the events this transaction marked are its own (another server may have taken some).
    const taken = await trx
      .updateTable("events")
      .set({ processed: 1 })
      .where(
        "seq",
        "in",
        waiting.map((event) => event.seq),
      )
      .where("processed", "=", 0)
      .returning("seq")
      .execute();
    const ours = new Set(taken.map((row) => row.seq));
    const events = waiting.filter((row) => ours.has(row.seq)).map(toStoredEvent);

    const firings: Firing[] = [];
    for (const { row, automation } of usable(rows)) {
      const { trigger } = automation;
      if (isCombinedTrigger(trigger)) {
        // Kept in the row, in this transaction: a restart or another server goes on from here.
        let state = combinedStateOf(trigger, fromJson(row.triggerState, null), new Date());
        for (const event of events) {
          const seen = observeCombined(trigger, state, event);
          state = seen.state;
          if (seen.fires) firings.push({ automation, event });
        }
        const stored = toJson(state);
        if (stored !== row.triggerState) {
          await trx
            .updateTable("automations")
            .set({ triggerState: stored })
            .where("id", "=", row.id)
            .execute();
        }
        continue;
      }
      // A metric trigger is judged from the runs' numbers (evaluateMetrics), not from events.
      if (!isEventTrigger(trigger)) continue;
      let window = { start: row.windowStart, count: row.windowCount };
      for (const event of events) {
        if (!matchesTrigger(trigger, event)) continue;
        const seen = observeMatch(trigger, window, event.occurred);
        window = seen.window;
        if (seen.fires) firings.push({ automation, event });
      }
      if (window.start !== row.windowStart || window.count !== row.windowCount) {
        await trx
          .updateTable("automations")
          .set({ windowStart: window.start, windowCount: window.count })
          .where("id", "=", row.id)
          .execute();
      }
    }
    await enqueue(trx, firings, dashboardUrl);
    return { more: waiting.length === BATCH, fired: firings };
  });
  announce(ctx, fired);
  return more;
}

async function fireProactive(ctx: StoreContext, dashboardUrl: string, now: Date): Promise<void> {
  const rows = await ctx.db.kysely.selectFrom("automations").selectAll().where("enabled", "=", 1).execute();
  for (const { row, automation } of usable(rows)) {
    if (!proactiveDue(automation.trigger, { start: row.windowStart, count: row.windowCount }, now)) continue;
    const fired = await ctx.db.kysely.transaction().execute(async (trx) => {
      // The window starts again now; unless another server fired it, or an event restarted it, since.
      const restarted = await trx
        .updateTable("automations")
        .set({ windowStart: now.toISOString() })
        .where("id", "=", row.id)
        .where("enabled", "=", 1)
        .where("windowStart", "=", row.windowStart)
        .executeTakeFirst();
      if (restarted.numUpdatedRows === 0n) return [];
      const firings = [{ automation, event: null }];
      await enqueue(trx, firings, dashboardUrl);
      return firings;
    });
    announce(ctx, fired);
  }
}

/**
 * Measures each enabled metric trigger's runs and fires those that went past their threshold. The
 * trigger's state moves only if no other server moved it since it was read, so a firing is enqueued
 * once, in the transaction that stores the state that says so.
 */
async function evaluateMetrics(ctx: StoreContext, dashboardUrl: string, now: Date): Promise<void> {
  const rows = await ctx.db.kysely.selectFrom("automations").selectAll().where("enabled", "=", 1).execute();
  for (const { row, automation } of usable(rows)) {
    const { trigger } = automation;
    if (!isMetricTrigger(trigger)) continue;
    const sample = await metricSample(ctx, trigger, now);
    const value = metricValue(trigger, sample);
    const seen = observeMetric(trigger, metricStateOf(fromJson(row.triggerState, null)), value, now);
    const stored = toJson(seen.state);
    if (stored === row.triggerState) continue;
    const fired = await ctx.db.kysely.transaction().execute(async (trx) => {
      const moved = await trx
        .updateTable("automations")
        .set({ triggerState: stored })
        .where("id", "=", row.id)
        .where("enabled", "=", 1)
        .where((eb) =>
          row.triggerState === null
            ? eb("triggerState", "is", null)
            : eb("triggerState", "=", row.triggerState),
        )
        .executeTakeFirst();
      if (moved.numUpdatedRows === 0n || !seen.fires || value === null) return [];
      const firings: Firing[] = [{ automation, event: null, reading: { value, runs: sample.runs } }];
      await enqueue(trx, firings, dashboardUrl);
      return firings;
    });
    announce(ctx, fired);
  }
}

/** One action run per action of each firing, due now; an action that cannot be resolved fails at once. */
async function enqueue(trx: Trx, firings: Firing[], dashboardUrl: string): Promise<void> {
  const now = nowIso();
  const rows: Insertable<ActionRunTable>[] = firings.flatMap(({ automation, event, reading }) => {
    const values = templateValues(automation, event, dashboardUrl, reading ?? null);
    return automation.actions.flatMap((action, actionIndex): Insertable<ActionRunTable>[] => {
      const row = {
        automationId: automation.id,
        automationName: automation.name,
        actionIndex,
        action: toJson(action),
        eventId: event?.id ?? null,
        context: toJson(values),
        created: now,
        updated: now,
      };
      try {
        // A notification to several destinations: an action run for each, delivered on its own.
        return resolveActions(action, values).map((resolved) => ({
          ...row,
          id: newId(),
          resolved: toJson(resolved),
          status: "PENDING",
          attempts: "[]",
          nextAttemptAt: now,
        }));
      } catch (error) {
        const attempt: ActionAttempt = {
          attempt: 1,
          started: now,
          ok: false,
          statusCode: null,
          response: null,
          error: error instanceof Error ? error.message : String(error),
        };
        return [
          {
            ...row,
            id: newId(),
            resolved: "{}",
            status: "FAILED",
            attempts: toJson([attempt]),
            nextAttemptAt: null,
          },
        ];
      }
    });
  });
  for (let start = 0; start < rows.length; start += 500) {
    await trx
      .insertInto("actionRuns")
      .values(rows.slice(start, start + 500))
      .execute();
  }
}

/** Live only (not stored, so no automation reacts to automations): wakes the actions service. */
function announce(ctx: StoreContext, firings: Firing[]): void {
  for (const { automation, event } of firings) {
    ctx.events.publish(
      EventName.AutomationTriggered,
      { kind: "automation", id: automation.id },
      event?.flowRunId ?? null,
      {
        automationName: automation.name,
        eventId: event?.id ?? null,
      },
    );
  }
}
