import { z } from "zod";
import { customEventNameProblem, STORED_EVENTS } from "../events.js";
import { STATE_TYPES } from "../states.js";
import { CsvList, Id, JsonObject, Limit, Name, Offset, Tags, Timestamp, Timestamps } from "./common.js";
import { BatonEvent } from "./models.js";

// ── Stored events ────────────────────────────────────────────────────────────
/** What an event concerns besides its resource: automations match on these. */
export const EventRelated = z.object({
  /** The name of the event's flow run (a task run's: the run it belongs to). */
  flowRunName: z.string().nullable(),
  flowName: z.string().nullable(),
  /** The deployment's own name (it is addressed as `<flowName>/<deploymentName>`). */
  deploymentName: z.string().nullable(),
  workPoolName: z.string().nullable(),
  tags: Tags,
});
export type EventRelated = z.infer<typeof EventRelated>;
export const StoredEvent = BatonEvent.extend({ related: EventRelated });
export type StoredEvent = z.infer<typeof StoredEvent>;
export const EventQuery = z.strictObject({
  /** Events whose name starts with this ("flow-run." for every flow-run event). */
  name: z.string().max(200).optional(),
  resourceId: z.string().max(200).optional(),
  since: Timestamp.optional(),
  limit: Limit,
  offset: Offset,
});
export type EventQuery = z.input<typeof EventQuery>;

/** A custom event's name (see `customEventNameProblem`): Baton's own names are refused. */
export const CustomEventName = z.string().superRefine((name, context) => {
  const problem = customEventNameProblem(name);
  if (problem) context.addIssue({ code: "custom", message: `'${name.slice(0, 120)}' ${problem}` });
});

/** What an event is about: a kind and an id of the sender's choosing (`{ kind: "order", id: "1234" }`). */
const ResourcePart = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((text) => !text.includes("\u0000"), "contains a NUL character (\\u0000), which cannot be stored");
export const EventResource = z.strictObject({ kind: ResourcePart(100), id: ResourcePart(200) });

/**
 * A custom event, sent by flow code (`emitEvent`), any client (`POST /api/events`) or a webhook. It
 * is stored and streamed with Baton's own, and automations can trigger on its name.
 */
export const EventCreate = z.strictObject({
  event: CustomEventName,
  /** What the event is about; the event's name itself (`{ kind: "event", id: <event> }`) when left out. */
  resource: EventResource.optional(),
  /** The flow run the event concerns: its flow, deployment, work pool and tags become the event's. */
  flowRunId: Id.optional(),
  payload: JsonObject.optional(),
});
export type EventCreate = z.input<typeof EventCreate>;

// ── Triggers ─────────────────────────────────────────────────────────────────
const DeploymentAddress = z
  .string()
  .max(401)
  .regex(/^[^/\s][^/]*\/[^/\s][^/]*$/, "write a deployment as <flow name>/<deployment name>");
const Names = z.array(z.string().min(1).max(200)).min(1).max(100);

/** One of Baton's stored events, or a custom event's name. */
const TriggerEvent = z.string().superRefine((name, context) => {
  if ((STORED_EVENTS as readonly string[]).includes(name)) return;
  const problem = customEventNameProblem(name);
  if (problem === null) return;
  const own = `Baton's events automations react to are ${STORED_EVENTS.join(", ")}`;
  context.addIssue({
    code: "custom",
    message: `'${name.slice(0, 120)}' is not one of them and ${problem} (${own})`,
  });
});

/**
 * Which events an automation reacts to and when it fires. Every filter given must match (a list
 * matches when any of its values does); a filter on something the event does not have (a state on
 * a deployment update) does not match.
 */
export const EventTrigger = z
  .strictObject({
    /** An event trigger may say so; one without a type is an event trigger. */
    type: z.literal("event").optional(),
    /** Baton's stored events and custom events' names. */
    events: z.array(TriggerEvent).min(1).max(100),
    flows: Names.optional(),
    deployments: z.array(DeploymentAddress).min(1).max(100).optional(),
    workPools: Names.optional(),
    /** Any of these tags (of the run; a task run's own tags for its events). */
    tags: Names.optional(),
    stateTypes: z.array(z.enum(STATE_TYPES)).min(1).optional(),
    stateNames: Names.optional(),
    /**
     * reactive: fires when `threshold` matching events happen within `withinSeconds` (each one
     * when the threshold is 1). proactive: fires when no matching event happens for `withinSeconds`.
     */
    posture: z.enum(["reactive", "proactive"]).default("reactive"),
    threshold: z.number().int().min(1).max(10_000).default(1),
    withinSeconds: z
      .number()
      .positive()
      .max(86_400 * 30)
      .optional(),
  })
  .refine(
    (trigger) => trigger.withinSeconds !== undefined || (trigger.posture ?? "reactive") === "reactive",
    {
      message: "a proactive trigger needs withinSeconds: how long without a matching event before it fires",
      path: ["withinSeconds"],
    },
  )
  .refine((trigger) => trigger.withinSeconds !== undefined || (trigger.threshold ?? 1) === 1, {
    message: "a threshold above 1 needs withinSeconds: the window the events must happen in",
    path: ["withinSeconds"],
  })
  .refine((trigger) => (trigger.posture ?? "reactive") === "reactive" || (trigger.threshold ?? 1) === 1, {
    message: "a proactive trigger has no threshold",
    path: ["threshold"],
  });
export type EventTrigger = z.output<typeof EventTrigger>;

/** The most event triggers a compound or sequence trigger combines. */
export const MAX_COMBINED_TRIGGERS = 10;
/** A compound or sequence trigger's window: up to 30 days. */
const CombinedWindow = z
  .number({
    error: (issue) =>
      issue.input === undefined
        ? "within is required: the window, in seconds, its triggers must match in"
        : "within is a number of seconds",
  })
  .positive("within must be a number of seconds above 0")
  .max(86_400 * 30, "within is at most 30 days (2592000 seconds)");
/** A compound or sequence trigger nested in another: refused with a message saying why. */
const Nested = z.looseObject({ type: z.enum(["compound", "sequence"]) }).superRefine((nested, context) =>
  context.addIssue({
    code: "custom",
    message: `a ${nested.type} trigger cannot be nested: a compound or sequence trigger combines event triggers only (one level deep)`,
  }),
);
/** An event trigger; a nested one is refused by Nested, so only event triggers come out of it. */
const Child = z.discriminatedUnion("type", [EventTrigger, Nested], {
  error: "each of triggers is an event trigger (its type is 'event' or left out)",
}) as unknown as typeof EventTrigger;
const Combined = z
  .array(Child)
  .min(1, "triggers is empty: give the event triggers to combine")
  .max(MAX_COMBINED_TRIGGERS, `triggers holds at most ${MAX_COMBINED_TRIGGERS} event triggers`)
  .superRefine((triggers, context) => {
    triggers.forEach((trigger, index) => {
      if (trigger.posture === "proactive") {
        context.addIssue({
          code: "custom",
          path: [index, "posture"],
          message:
            "a compound or sequence trigger combines reactive event triggers: a proactive one has no event to match",
        });
      }
    });
  });
/**
 * Fires when `require` of its event triggers (all, any, or a number of them) have each matched
 * within `within` seconds of one another, as Prefect's compound triggers do. Firing starts it afresh.
 */
export const CompoundTrigger = z
  .strictObject({
    type: z.literal("compound"),
    require: z.union([z.enum(["all", "any"]), z.number().int().min(1)], {
      error: "require is 'all', 'any' or how many of the triggers must match (a whole number from 1)",
    }),
    triggers: Combined,
    within: CombinedWindow,
  })
  .refine((trigger) => typeof trigger.require !== "number" || trigger.require <= trigger.triggers.length, {
    message: "require is more than the number of triggers: it could never fire",
    path: ["require"],
  });
export type CompoundTrigger = z.output<typeof CompoundTrigger>;

/** Fires when its event triggers match one after the other, in their order, within `within` seconds of the first. */
export const SequenceTrigger = z.strictObject({
  type: z.literal("sequence"),
  triggers: Combined,
  within: CombinedWindow,
});
export type SequenceTrigger = z.output<typeof SequenceTrigger>;

/**
 * What a metric trigger measures over the flow runs that ended in its range: `failure-ratio`, the
 * share of them that FAILED or CRASHED (0 to 1); `mean-duration`, their mean run time in seconds.
 */
export const METRICS = ["failure-ratio", "mean-duration"] as const;
export type Metric = (typeof METRICS)[number];
export const METRIC_OPERATORS = [">", ">=", "<", "<="] as const;
export type MetricOperator = (typeof METRIC_OPERATORS)[number];

/**
 * Fires when a metric of the runs of some flows or deployments (of every flow when neither is given)
 * over the last `rangeSeconds` has been past `threshold` for `firingForSeconds`, as Prefect's metric
 * triggers do. It fires once, and again only after the metric came back ("resolved").
 */
export const MetricTrigger = z
  .strictObject({
    type: z.literal("metric"),
    metric: z.enum(METRICS, { error: `metric is one of ${METRICS.join(", ")}` }),
    operator: z.enum(METRIC_OPERATORS, { error: `operator is one of ${METRIC_OPERATORS.join(" ")}` }),
    threshold: z
      .number({ error: "threshold is a number: a ratio from 0 to 1, or a number of seconds" })
      .min(0),
    /** The window the runs ended in: from 1 minute to 30 days. */
    rangeSeconds: z
      .number({ error: "rangeSeconds is required: the window, in seconds, the runs ended in" })
      .min(60, "rangeSeconds is at least 60")
      .max(86_400 * 30, "rangeSeconds is at most 30 days (2592000 seconds)"),
    /** How long the metric must stay past the threshold before the trigger fires. */
    firingForSeconds: z
      .number()
      .min(0)
      .max(86_400 * 30)
      .default(0),
    /** Fewer runs than this in the range say nothing: the trigger neither fires nor resolves. */
    minRuns: z.number().int().min(1).max(100_000).default(1),
    flows: Names.optional(),
    deployments: z.array(DeploymentAddress).min(1).max(100).optional(),
  })
  .refine((trigger) => trigger.metric !== "failure-ratio" || trigger.threshold <= 1, {
    message: "a failure-ratio threshold is a ratio from 0 to 1 (0.5: half of the runs)",
    path: ["threshold"],
  });
export type MetricTrigger = z.output<typeof MetricTrigger>;

/** An event trigger (the type may be left out), a compound or sequence trigger of event triggers, or a metric trigger. */
export const AutomationTrigger = z.discriminatedUnion(
  "type",
  [EventTrigger, CompoundTrigger, SequenceTrigger, MetricTrigger],
  {
    error: "type is 'event' (or left out), 'compound', 'sequence' or 'metric'",
  },
);
export type AutomationTrigger = z.output<typeof AutomationTrigger>;
export const isMetricTrigger = (trigger: AutomationTrigger): trigger is MetricTrigger =>
  trigger.type === "metric";
/** An event trigger: the type is 'event' or left out. */
export const isEventTrigger = (trigger: AutomationTrigger): trigger is EventTrigger =>
  trigger.type === undefined || trigger.type === "event";
/** A compound or sequence trigger: the ones that keep what their event triggers matched. */
export type CombinedTrigger = CompoundTrigger | SequenceTrigger;
export const isCombinedTrigger = (trigger: AutomationTrigger): trigger is CombinedTrigger =>
  trigger.type === "compound" || trigger.type === "sequence";

// ── Actions ──────────────────────────────────────────────────────────────────
/** A `{{ flow_run.name }}`-style template (see docs/automations.md); never evaluated as code. */
const Template = z.string().min(1).max(10_000);

/** Where a notification goes: a Slack incoming webhook or any URL that takes a JSON POST, held by a secret. */
export const NotificationDestination = z.strictObject({
  type: z.enum(["slack", "webhook"], { error: "a destination's type is 'slack' or 'webhook'" }),
  secret: Name,
});
export type NotificationDestination = z.infer<typeof NotificationDestination>;
/** The most destinations one send-notification action names. */
export const MAX_DESTINATIONS = 20;

/**
 * What an automation does when it fires. Notifications name a secret that holds the URL to post
 * to, so the URL (a credential for Slack) is never part of the automation. Targets left out are
 * taken from the event (the run that failed, its deployment, its work pool).
 */
export const AutomationAction = z.discriminatedUnion("type", [
  /** Records the message on the action run and sends nothing: for tests and dry runs. */
  z.strictObject({ type: z.literal("test-sink"), text: Template.optional() }),
  z.strictObject({ type: z.literal("slack"), secret: Name, text: Template.optional() }),
  /** POSTs `body` (any JSON; its strings are templates) or, without one, the template values. */
  z.strictObject({ type: z.literal("webhook"), secret: Name, body: z.json().optional() }),
  z.strictObject({
    type: z.literal("run-deployment"),
    deployment: DeploymentAddress,
    parameters: JsonObject.optional(),
  }),
  z.strictObject({ type: z.literal("cancel-flow-run") }),
  /**
   * Sends one message to each destination; each is delivered (and retried, and recorded as an action
   * run) on its own, so one that fails does not hold up the others. Slack gets `text`; a webhook gets
   * `body`, or without one the template values.
   */
  z.strictObject({
    type: z.literal("send-notification"),
    destinations: z
      .array(NotificationDestination)
      .min(1, "destinations is empty: name at least one { type, secret }")
      .max(MAX_DESTINATIONS, `destinations holds at most ${MAX_DESTINATIONS}`),
    text: Template.optional(),
    body: z.json().optional(),
  }),
  /**
   * Forces a flow run (the event's, or `flowRunId`) into a state, as Prefect's change-flow-run-state
   * does: the orchestration rules do not refuse it, but their side effects (slots given back, task
   * runs ended with the run) and the state-changed event happen as for any other change.
   */
  z.strictObject({
    type: z.literal("change-flow-run-state"),
    flowRunId: Id.optional(),
    state: z.enum(STATE_TYPES, { error: `state is one of ${STATE_TYPES.join(", ")}` }),
    /** The state's name; the type's own name (Failed, Completed…) when left out. */
    name: z.string().min(1).max(200).optional(),
    message: Template.optional(),
  }),
  /**
   * Suspends the event's running flow run (or `flowRunId`): its process stops and it waits PAUSED
   * until resumed, when it starts again from its deployment, reusing its completed tasks.
   */
  z.strictObject({
    type: z.literal("pause-flow-run"),
    flowRunId: Id.optional(),
    /** How long it waits before it fails; no limit when left out. */
    timeoutSeconds: z
      .number()
      .positive()
      .max(366 * 24 * 3600)
      .optional(),
  }),
  /** Resumes the event's paused flow run (or `flowRunId`), with `input` whose strings are templates. */
  z.strictObject({
    type: z.literal("resume-flow-run"),
    flowRunId: Id.optional(),
    input: JsonObject.optional(),
  }),
  z.strictObject({ type: z.literal("pause-deployment"), deployment: DeploymentAddress.optional() }),
  z.strictObject({ type: z.literal("pause-work-pool"), workPool: Name.optional() }),
]);
export type AutomationAction = z.infer<typeof AutomationAction>;
export type AutomationActionType = AutomationAction["type"];

// ── Deployment triggers ──────────────────────────────────────────────────────
/**
 * A deployment's trigger: an event trigger that starts a run of the deployment, with `parameters`
 * whose strings are templates (`"{{ event.payload.branch }}"`: a whole-tag string keeps the value's
 * type). Each is an automation owned by the deployment: replaced when it is deployed again, removed
 * with it.
 */
export const DeploymentTrigger = EventTrigger.safeExtend({
  /** The automation's name; `deployment <flow>:<deployment> on <events>` when left out. */
  name: Name.optional(),
  description: z.string().max(10_000).optional(),
  enabled: z.boolean().default(true),
  parameters: JsonObject.optional(),
});
export type DeploymentTrigger = z.output<typeof DeploymentTrigger>;
export type DeploymentTriggerInput = z.input<typeof DeploymentTrigger>;
/** The most triggers one deployment has. */
export const MAX_DEPLOYMENT_TRIGGERS = 20;
/** A deployment's triggers, all of them: those it had before are replaced. */
export const DeploymentTriggersReplace = z.strictObject({
  triggers: z
    .array(DeploymentTrigger)
    .max(MAX_DEPLOYMENT_TRIGGERS, `triggers holds at most ${MAX_DEPLOYMENT_TRIGGERS}`),
});
export type DeploymentTriggersReplace = z.input<typeof DeploymentTriggersReplace>;

// ── Automations ──────────────────────────────────────────────────────────────
export const Automation = z.object({
  id: Id,
  name: Name,
  description: z.string().nullable(),
  enabled: z.boolean(),
  /** The deployment whose trigger this is (deploying it again replaces it); null for any other. */
  deploymentId: Id.nullable(),
  trigger: AutomationTrigger,
  actions: z.array(AutomationAction),
  ...Timestamps,
});
export type Automation = z.infer<typeof Automation>;
const AutomationFields = {
  name: Name,
  description: z.string().max(10_000).nullish(),
  trigger: AutomationTrigger,
  actions: z.array(AutomationAction).min(1).max(20),
};
export const AutomationCreate = z.strictObject({ ...AutomationFields, enabled: z.boolean().default(true) });
export type AutomationCreate = z.input<typeof AutomationCreate>;
/**
 * A PATCH: a field left out stays as it is. No field here has a default (zod would fill it in for a
 * field left out, turning a rename into a resume); a trigger given is the whole trigger.
 */
export const AutomationUpdate = z.strictObject({ ...AutomationFields, enabled: z.boolean() }).partial();
export type AutomationUpdate = z.input<typeof AutomationUpdate>;

// ── Action runs: one per action each time an automation fires ────────────────
export const ACTION_RUN_STATUSES = ["PENDING", "COMPLETED", "FAILED"] as const;
export const ActionAttempt = z.object({
  attempt: z.number().int(),
  started: Timestamp,
  ok: z.boolean(),
  /** The HTTP status of a notification's answer. */
  statusCode: z.number().int().nullable(),
  /** The start of the answer's body, or what the action did; secrets masked. */
  response: z.string().nullable(),
  error: z.string().nullable(),
});
export type ActionAttempt = z.infer<typeof ActionAttempt>;
export const ActionRun = z.object({
  id: Id,
  automationId: Id,
  automationName: z.string(),
  actionIndex: z.number().int(),
  action: AutomationAction,
  /** The event that fired the automation; null for a proactive trigger. */
  eventId: Id.nullable(),
  /** The template values of this firing. */
  context: JsonObject,
  /** What is carried out: the message or body with its templates rendered, the targets resolved. */
  resolved: JsonObject,
  status: z.enum(ACTION_RUN_STATUSES),
  attempts: z.array(ActionAttempt),
  /** When the next attempt is due; null once the action run is finished. */
  nextAttemptAt: Timestamp.nullable(),
  ...Timestamps,
});
export type ActionRun = z.infer<typeof ActionRun>;
export const ActionRunQuery = z.strictObject({
  automationId: Id.optional(),
  status: CsvList(z.enum(ACTION_RUN_STATUSES)).optional(),
  limit: Limit,
  offset: Offset,
});
export type ActionRunQuery = z.input<typeof ActionRunQuery>;
