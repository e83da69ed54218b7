import { parseDeploymentName, type MetricSample, type MetricTrigger } from "@baton/core";
import { sql } from "kysely";
import { speaksPostgres } from "../db/database.js";
import type { StoreContext } from "./context.js";

const ENDED = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"] as const;

/**
 * Counts the flow runs of a metric trigger's flows or deployments (of every flow when it names
 * neither) that ended in its range: how many, how many FAILED or CRASHED, and their mean run time.
 * Timestamps are ISO text on both databases, so the range is a comparison of text; the run time is
 * reckoned in each one's own date arithmetic.
 */
export async function metricSample(
  { db }: StoreContext,
  trigger: Pick<MetricTrigger, "rangeSeconds" | "flows" | "deployments">,
  now: Date,
): Promise<MetricSample> {
  const since = new Date(now.getTime() - trigger.rangeSeconds * 1000).toISOString();
  const seconds = speaksPostgres(db.kysely)
    ? sql<number>`extract(epoch from (fr.end_time::timestamptz - fr.start_time::timestamptz))`
    : sql<number>`(julianday(fr.end_time) - julianday(fr.start_time)) * 86400.0`;
  const deployments = (trigger.deployments ?? []).map(parseDeploymentName);
  const row = await db.kysely
    .selectFrom("flowRuns as fr")
    .innerJoin("flows as f", "f.id", "fr.flowId")
    .select((eb) => [
      eb.fn.countAll<number | string>().as("runs"),
      eb.fn
        .sum<number | string | null>(
          eb.case().when("fr.stateType", "in", ["FAILED", "CRASHED"]).then(1).else(0).end(),
        )
        .as("failed"),
      eb.fn.avg<number | string | null>(seconds).as("meanDurationSeconds"),
    ])
    .where("fr.endTime", ">=", since)
    .where("fr.endTime", "<=", now.toISOString())
    .where("fr.stateType", "in", ENDED)
    .$if(trigger.flows !== undefined || deployments.length > 0, (q) =>
      q.where((eb) =>
        eb.or([
          ...(trigger.flows ?? []).map((name) => eb("f.name", "=", name)),
          ...deployments.map(({ flowName, deploymentName }) =>
            eb.and([eb("f.name", "=", flowName), eb("fr.deploymentName", "=", deploymentName)]),
          ),
        ]),
      ),
    )
    .executeTakeFirstOrThrow();
  const mean = row.meanDurationSeconds === null ? null : Number(row.meanDurationSeconds);
  return {
    runs: Number(row.runs),
    failed: Number(row.failed ?? 0),
    // Milliseconds are the most a run's times say.
    meanDurationSeconds: mean === null ? null : Math.round(mean * 1000) / 1000,
  };
}
