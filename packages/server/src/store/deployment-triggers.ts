import {
  freshWindow,
  newId,
  type Automation,
  type AutomationAction,
  type DeploymentTrigger,
  type EventTrigger,
} from "@baton/core";
import type { Insertable } from "kysely";
import type { AutomationTable } from "../db/schema.js";
import { toAutomation } from "./automations.js";
import { toFlag, toJson, type StoreContext } from "./context.js";
import { readDeployment } from "./deployments.js";

/** The automations a deployment owns, by name. */
export async function listDeploymentTriggers(ctx: StoreContext, deploymentId: string): Promise<Automation[]> {
  await readDeployment(ctx, { id: deploymentId }); // a 404 for a deployment that does not exist
  const rows = await ctx.db.kysely
    .selectFrom("automations")
    .selectAll()
    .where("deploymentId", "=", deploymentId)
    .orderBy("name")
    .orderBy("id")
    .execute();
  return rows.map(toAutomation);
}

/** What makes two of a deployment's automations the same trigger. */
const sameness = (
  row: Pick<Insertable<AutomationTable>, "name" | "description" | "enabled" | "trigger" | "actions">,
) => JSON.stringify([row.name, row.description ?? null, row.enabled, row.trigger, row.actions]);

/**
 * Replaces a deployment's triggers with these, in one transaction: each becomes an automation owned
 * by the deployment, whose one action runs it with the trigger's parameters. One it has already, the
 * same in every field, is kept as it is (its count and action runs too: `serve()` registers its
 * triggers on every start); the others it had go, with their action runs.
 */
export async function replaceDeploymentTriggers(
  ctx: StoreContext,
  deploymentId: string,
  triggers: DeploymentTrigger[],
): Promise<Automation[]> {
  const deployment = await readDeployment(ctx, { id: deploymentId });
  const address = `${deployment.flowName}/${deployment.name}`;
  const now = new Date();
  const window = freshWindow(now);
  const wanted = triggers.map(
    ({ name, description, enabled, parameters, ...trigger }): Insertable<AutomationTable> => {
      const action: AutomationAction = {
        type: "run-deployment",
        deployment: address,
        ...(parameters !== undefined ? { parameters } : {}),
      };
      const eventTrigger: EventTrigger = trigger;
      return {
        id: newId(),
        // A name may not hold '/': the deployment is written as <flow>:<deployment> in it.
        name:
          name ??
          `deployment ${deployment.flowName}:${deployment.name} on ${trigger.events.join(", ")}`.slice(
            0,
            200,
          ),
        description: description ?? null,
        enabled: toFlag(enabled),
        deploymentId,
        trigger: toJson(eventTrigger),
        actions: toJson([action]),
        windowStart: window.start,
        windowCount: window.count,
        created: now.toISOString(),
        updated: now.toISOString(),
      };
    },
  );
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const had = await trx
      .selectFrom("automations")
      .selectAll()
      .where("deploymentId", "=", deploymentId)
      .execute();
    const kept = new Set<string>();
    const added = wanted.filter((row) => {
      const same = had.find((old) => !kept.has(old.id) && sameness(old) === sameness(row));
      if (same) kept.add(same.id);
      return !same;
    });
    const gone = had.filter((old) => !kept.has(old.id)).map((old) => old.id);
    if (gone.length > 0) await trx.deleteFrom("automations").where("id", "in", gone).execute();
    if (added.length > 0) await trx.insertInto("automations").values(added).execute();
  });
  return listDeploymentTriggers(ctx, deploymentId);
}
