import {
  isCombinedTrigger,
  isMetricTrigger,
  type AutomationAction,
  type Automation,
  type StoredEvent,
} from "../api/automations.js";
import type { JsonObject } from "../api/common.js";
import { BatonError } from "../errors.js";
import { defaultMessage, renderJson, renderTemplate, renderTyped, type TemplateValues } from "./templates.js";
import { eventState } from "../events.js";
import type { StateType } from "../states.js";

type Json = JsonObject[string];

/** An action as it is carried out: templates rendered, targets the action left out taken from the event. */
export type ResolvedAction =
  | { type: "test-sink"; text: string }
  | { type: "slack"; secret: string; text: string }
  | { type: "webhook"; secret: string; body: Json }
  | { type: "run-deployment"; deployment: string; parameters: JsonObject }
  | { type: "cancel-flow-run"; flowRunId: string }
  | {
      type: "change-flow-run-state";
      flowRunId: string;
      state: { type: StateType; name?: string; message: string };
    }
  | { type: "pause-flow-run"; flowRunId: string; message: string; timeoutSeconds?: number }
  | { type: "resume-flow-run"; flowRunId: string; input?: JsonObject }
  | { type: "pause-deployment"; deployment: string }
  | { type: "pause-work-pool"; workPool: string };

/**
 * The template values of one firing of an automation: from its event, or none for a proactive
 * trigger. `dashboardUrl` is where links to runs point (`BATON_UI_URL`).
 */
export function templateValues(
  automation: Pick<Automation, "id" | "name" | "trigger">,
  event: StoredEvent | null,
  dashboardUrl: string,
  reading: MetricReading | null = null,
): TemplateValues {
  const related = event?.related;
  const state = event ? eventState(event) : null;
  const { trigger } = automation;
  return {
    automation: { id: automation.id, name: automation.name },
    event: event
      ? { id: event.id, name: event.name, occurred: event.occurred, payload: event.payload }
      : null,
    resource: event?.resource ?? null,
    flow_run: event?.flowRunId
      ? {
          id: event.flowRunId,
          name: related?.flowRunName ?? event.flowRunId,
          url: `${dashboardUrl.replace(/\/+$/, "")}/runs/${event.flowRunId}`,
        }
      : null,
    flow: related?.flowName ? { name: related.flowName } : null,
    deployment:
      related?.flowName && related.deploymentName
        ? { name: related.deploymentName, full_name: `${related.flowName}/${related.deploymentName}` }
        : null,
    work_pool: related?.workPoolName ? { name: related.workPoolName } : null,
    state: state ? { type: state.type, name: state.name, message: state.message ?? null } : null,
    metric:
      reading && isMetricTrigger(trigger)
        ? {
            name: trigger.metric,
            value: reading.value,
            operator: trigger.operator,
            threshold: trigger.threshold,
            runs: reading.runs,
            range_seconds: trigger.rangeSeconds,
            of: [...(trigger.flows ?? []), ...(trigger.deployments ?? [])],
          }
        : null,
    trigger: isMetricTrigger(trigger)
      ? {
          type: trigger.type,
          posture: "metric",
          events: [],
          within_seconds: trigger.rangeSeconds,
          threshold: trigger.threshold,
        }
      : isCombinedTrigger(trigger)
        ? {
            type: trigger.type,
            posture: "reactive",
            events: [...new Set(trigger.triggers.flatMap((child) => child.events))],
            within_seconds: trigger.within,
            threshold: 1,
          }
        : {
            type: "event",
            posture: trigger.posture,
            events: trigger.events,
            within_seconds: trigger.withinSeconds ?? null,
            threshold: trigger.threshold,
          },
  };
}

/** A metric trigger's firing: the value that fired it and how many runs it was measured over. */
export interface MetricReading {
  value: number;
  runs: number;
}

function target(value: string | undefined, what: string): string {
  if (value === undefined) {
    throw new BatonError("invalid_argument", `the event that fired the automation has no ${what}`);
  }
  return value;
}

const messageOf = (template: string | undefined, values: TemplateValues) =>
  template === undefined ? defaultMessage(values) : renderTemplate(template, values);
const bodyOf = (body: Json | undefined, values: TemplateValues): Json =>
  body === undefined ? (values as unknown as JsonObject) : renderJson(body, values);

/**
 * Resolves an action for one firing into what is delivered: one for each destination of a
 * send-notification (each then delivered, retried and recorded on its own), one for any other.
 * Throws when the action needs a target the event does not have.
 */
export function resolveActions(action: AutomationAction, values: TemplateValues): ResolvedAction[] {
  if (action.type !== "send-notification") return [resolveAction(action, values)];
  const text = messageOf(action.text, values);
  return action.destinations.map((destination) =>
    destination.type === "slack"
      ? { type: "slack", secret: destination.secret, text }
      : { type: "webhook", secret: destination.secret, body: bodyOf(action.body, values) },
  );
}

function resolveAction(
  action: Exclude<AutomationAction, { type: "send-notification" }>,
  values: TemplateValues,
): ResolvedAction {
  const text = (template: string | undefined) => messageOf(template, values);
  switch (action.type) {
    case "test-sink":
      return { type: action.type, text: text(action.text) };
    case "slack":
      return { type: action.type, secret: action.secret, text: text(action.text) };
    case "webhook":
      return { type: action.type, secret: action.secret, body: bodyOf(action.body, values) };
    case "run-deployment":
      return {
        type: action.type,
        deployment: action.deployment,
        parameters: renderTyped(action.parameters ?? {}, values) as JsonObject,
      };
    case "cancel-flow-run":
      return { type: action.type, flowRunId: target(values.flow_run?.id, "flow run to cancel") };
    case "change-flow-run-state":
      return {
        type: action.type,
        flowRunId: action.flowRunId ?? target(values.flow_run?.id, "flow run to change the state of"),
        state: {
          type: action.state,
          ...(action.name !== undefined ? { name: action.name } : {}),
          message: text(action.message ?? `State changed by automation '{{ automation.name }}'`),
        },
      };
    case "pause-flow-run":
      return {
        type: action.type,
        flowRunId: action.flowRunId ?? target(values.flow_run?.id, "flow run to pause"),
        message: text(`Suspended by automation '{{ automation.name }}'`),
        ...(action.timeoutSeconds !== undefined ? { timeoutSeconds: action.timeoutSeconds } : {}),
      };
    case "resume-flow-run":
      return {
        type: action.type,
        flowRunId: action.flowRunId ?? target(values.flow_run?.id, "flow run to resume"),
        ...(action.input ? { input: renderTyped(action.input, values) as JsonObject } : {}),
      };
    case "pause-deployment":
      return {
        type: action.type,
        deployment: action.deployment ?? target(values.deployment?.full_name, "deployment to pause"),
      };
    case "pause-work-pool":
      return {
        type: action.type,
        workPool: action.workPool ?? target(values.work_pool?.name, "work pool to pause"),
      };
  }
}
