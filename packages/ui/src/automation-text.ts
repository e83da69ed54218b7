/** Automations in a line: their triggers and actions, for lists. */
import {
  isCombinedTrigger,
  isMetricTrigger,
  type AutomationAction,
  type AutomationTrigger,
  type EventTrigger,
  type MetricTrigger,
} from "@baton/core";

const list = (values: string[] | undefined) => values?.join(", ");

/**
 * "flow-run.state-changed · state FAILED, CRASHED · deployment etl/prod · 3 within 60 s"; a
 * compound trigger "all of (order.paid | order.shipped) within 3600 s", a sequence
 * "order.paid, then order.shipped, within 3600 s"; a metric trigger as metricTriggerSummary.
 */
export function triggerSummary(trigger: AutomationTrigger): string {
  if (isMetricTrigger(trigger)) return metricTriggerSummary(trigger);
  if (!isCombinedTrigger(trigger)) return eventTriggerSummary(trigger);
  const children = trigger.triggers.map(eventTriggerSummary);
  if (trigger.type === "sequence") return `${children.join(", then ")}, within ${trigger.within} s`;
  const require = typeof trigger.require === "number" ? `${trigger.require}` : trigger.require;
  return `${require} of (${children.join(" | ")}) within ${trigger.within} s`;
}

/** "failure-ratio > 0.5 over 3600 s · deployment etl/prod · for 300 s" */
export function metricTriggerSummary(trigger: MetricTrigger): string {
  const parts = [`${trigger.metric} ${trigger.operator} ${trigger.threshold} over ${trigger.rangeSeconds} s`];
  if (trigger.flows?.length) parts.push(`flow ${list(trigger.flows)}`);
  if (trigger.deployments?.length) parts.push(`deployment ${list(trigger.deployments)}`);
  if (trigger.firingForSeconds > 0) parts.push(`for ${trigger.firingForSeconds} s`);
  if (trigger.minRuns > 1) parts.push(`at least ${trigger.minRuns} runs`);
  return parts.join(" · ");
}

function eventTriggerSummary(trigger: EventTrigger): string {
  const parts = [trigger.events.join(", ")];
  const filters: [string, string[] | undefined][] = [
    ["state", trigger.stateTypes],
    ["state name", trigger.stateNames],
    ["flow", trigger.flows],
    ["deployment", trigger.deployments],
    ["work pool", trigger.workPools],
    ["tag", trigger.tags],
  ];
  for (const [label, values] of filters) if (values?.length) parts.push(`${label} ${list(values)}`);
  if (trigger.posture === "proactive") parts.push(`none for ${trigger.withinSeconds} s`);
  else if (trigger.threshold > 1) parts.push(`${trigger.threshold} within ${trigger.withinSeconds} s`);
  return parts.join(" · ");
}

/** "slack (slack-data-team)", "run-deployment etl/prod", "test-sink" */
export function actionSummary(action: AutomationAction): string {
  switch (action.type) {
    case "slack":
    case "webhook":
      return `${action.type} (${action.secret})`;
    case "run-deployment":
      return `${action.type} ${action.deployment}`;
    case "send-notification":
      return `${action.type} (${action.destinations.map((to) => `${to.type} ${to.secret}`).join(", ")})`;
    case "change-flow-run-state":
      return `${action.type} ${action.flowRunId ?? "of the event"} to ${action.name ?? action.state}`;
    case "pause-flow-run":
    case "resume-flow-run":
      return `${action.type} ${action.flowRunId ?? "of the event"}`;
    case "pause-deployment":
      return action.deployment ? `${action.type} ${action.deployment}` : action.type;
    case "pause-work-pool":
      return action.workPool ? `${action.type} ${action.workPool}` : action.type;
    default:
      return action.type;
  }
}
