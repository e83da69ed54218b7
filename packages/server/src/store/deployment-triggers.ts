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

/**
 * Replaces a deployment's triggers with these, in one transaction: each becomes an automation owned
 * by the deployment, whose one action runs it with the trigger's parameters. Those it had before go,
 * with their action runs (a trigger deployed again starts counting afresh).
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
  const rows = triggers.map(
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
    await trx.deleteFrom("automations").where("deploymentId", "=", deploymentId).execute();
    if (rows.length > 0) await trx.insertInto("automations").values(rows).execute();
  });
  return listDeploymentTriggers(ctx, deploymentId);
}
