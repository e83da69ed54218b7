/**
 * Automations in the browser: the form's JSON Schema (made from the zod model), what the form holds
 * turned into what is sent, and the checks the server will make. Loaded with the editor (it needs
 * the form library); the lists' summaries are in automation-text.ts.
 */
import {
  AutomationCreate,
  EventName,
  EventTrigger,
  MetricTrigger,
  type AutomationActionType,
  type Automation,
  type AutomationUpdate,
  type FieldIssue,
  type JsonObject,
} from "@baton/core";
import type { RJSFSchema, UiSchema } from "@rjsf/utils";
import { formSchema } from "./parameters.js";

/** What the form and the JSON editor hold: an automation to create, not checked yet. */
export type AutomationDraft = Record<string, unknown>;

export const ACTION_TITLES: Record<AutomationActionType, string> = {
  "test-sink": "Test sink: record the message, send nothing",
  slack: "Slack message",
  webhook: "Webhook: POST JSON",
  "run-deployment": "Run a deployment",
  "cancel-flow-run": "Cancel the event's flow run",
  "change-flow-run-state": "Change a flow run's state",
  "pause-flow-run": "Suspend a running flow run until resumed",
  "resume-flow-run": "Resume a paused flow run",
  "send-notification": "Notify several destinations",
  "pause-deployment": "Pause a deployment",
  "pause-work-pool": "Pause a work pool",
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The `const` of an option's `type` property, for a discriminated union's options. */
function typeConst(option: unknown): string | undefined {
  if (!isObject(option) || !isObject(option.properties)) return undefined;
  const type = option.properties.type;
  return isObject(type) && typeof type.const === "string" ? type.const : undefined;
}

/**
 * What the form cannot draw as zod writes it: a nullable description (a choice between a string
 * and null), any-JSON values (recursive unions, edited as JSON text instead), lists of choices
 * (drawn as checkboxes once their items are unique) and the actions' union (named options, picked
 * by their `type`).
 */
function adapt(node: unknown, name?: string): unknown {
  if (Array.isArray(node)) return node.map((item) => adapt(item));
  if (!isObject(node)) return node;
  if (name === "description" && Array.isArray(node.anyOf)) return { type: "string", maxLength: 10_000 };
  // Any JSON: a schema with no keyword, which the form would leave out, so only a title.
  if (name === "body") return { title: "body" };
  if (name === "parameters") return { type: "object" };
  // Any other any-JSON value refers to zod's $defs, which are left out: it takes any JSON.
  if (typeof node.$ref === "string" && node.$ref.startsWith("#/$defs/")) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$defs") continue;
    if (key === "properties" && isObject(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([prop, sub]) => [prop, adapt(sub, prop)]),
      );
    } else if (key === "enum" || key === "const" || key === "default") {
      out[key] = value;
    } else {
      out[key] = adapt(value);
    }
  }
  if (out.type === "array" && isObject(out.items) && Array.isArray(out.items.enum)) out.uniqueItems = true;
  if (Array.isArray(out.oneOf) && out.oneOf.every((option) => typeConst(option) !== undefined)) {
    out.discriminator = { propertyName: "type" };
    out.oneOf = out.oneOf.map((option: Record<string, unknown>) => {
      const type = typeConst(option) as AutomationActionType;
      return { ...option, title: ACTION_TITLES[type] ?? type };
    });
  }
  return out;
}

/** The kinds of trigger the form draws; a compound or sequence trigger is written as JSON. */
export type TriggerKind = "event" | "metric";
export const TRIGGER_KINDS: Record<TriggerKind, string> = {
  event: "Events: when matching events happen (or do not)",
  metric: "Metric: when a failure ratio or mean run time goes past a threshold",
};
export const triggerKindOf = (draft: AutomationDraft): TriggerKind =>
  isObject(draft.trigger) && draft.trigger.type === "metric" ? "metric" : "event";

/** A new metric trigger: more than half of the runs that ended in the last hour failed. */
export const NEW_METRIC_TRIGGER = {
  type: "metric",
  metric: "failure-ratio",
  operator: ">",
  threshold: 0.5,
  rangeSeconds: 3600,
};

/**
 * The form's schema for a kind of trigger: the model's input JSON Schema, in draft-07, adapted as
 * `adapt` says. A compound or sequence trigger is written as JSON (see `formTakes`).
 */
export function automationSchema(kind: TriggerKind = "event"): RJSFSchema {
  const formModel = AutomationCreate.extend({ trigger: kind === "metric" ? MetricTrigger : EventTrigger });
  const zodSchema = formModel.toJSONSchema({ io: "input" }) as unknown as JsonObject;
  return adapt(formSchema(zodSchema)) as RJSFSchema;
}

const lines = (help: string, placeholder: string) => ({
  "ui:field": "lines",
  "ui:help": help,
  "ui:placeholder": placeholder,
});

/** Titles, help and widgets; `lines`, `json` and `secret` are the editor's own (automation-fields.tsx). */
export const automationUiSchema: UiSchema = {
  // "*": fields the model gains later go there, instead of breaking the form.
  "ui:order": ["name", "description", "enabled", "trigger", "actions", "*"],
  name: { "ui:title": "Name", "ui:placeholder": "etl failures to slack" },
  description: { "ui:title": "Description", "ui:widget": "textarea", "ui:options": { rows: 2 } },
  enabled: { "ui:title": "Enabled", "ui:help": "A paused automation reacts to nothing." },
  trigger: {
    "ui:title": "Trigger",
    "ui:description": "Every filter given must match; a list matches when any of its values does.",
    "ui:order": [
      "events",
      "stateTypes",
      "flows",
      "deployments",
      "workPools",
      "tags",
      "stateNames",
      "posture",
      "threshold",
      "withinSeconds",
      "*",
    ],
    type: { "ui:widget": "hidden" },
    events: { "ui:title": "Events", "ui:field": "events" },
    stateTypes: { "ui:title": "State types", "ui:field": "choices" },
    flows: { "ui:title": "Flows", ...lines("Flow names, one a line.", "nightly-etl") },
    deployments: {
      "ui:title": "Deployments",
      ...lines("As <flow name>/<deployment name>, one a line.", "nightly-etl/prod"),
    },
    workPools: { "ui:title": "Work pools", ...lines("Work pool names, one a line.", "default") },
    tags: { "ui:title": "Tags", ...lines("Any of these tags, one a line.", "critical") },
    stateNames: { "ui:title": "State names", ...lines("Late, AwaitingRetry…, one a line.", "Late") },
    posture: {
      "ui:title": "Posture",
      "ui:widget": "radio",
      "ui:options": { inline: true },
      "ui:help": "Reactive fires on matching events; proactive when none happens for the window.",
    },
    threshold: {
      "ui:title": "Threshold",
      "ui:help": "Reactive: how many matching events fire it (above 1, within the window).",
    },
    withinSeconds: {
      "ui:title": "Within seconds",
      "ui:help": "The window of the threshold; a proactive trigger's silence.",
    },
  },
  actions: {
    "ui:title": "Actions",
    items: {
      // The kind of action is chosen above its fields (actionKind, a labelled select), so the
      // option needs no heading of its own.
      "ui:widget": "actionKind",
      "ui:options": { label: false },
      type: { "ui:widget": "hidden" },
      secret: { "ui:title": "Secret", "ui:widget": "secret" },
      text: {
        "ui:title": "Text",
        "ui:widget": "textarea",
        "ui:options": { rows: 2 },
        "ui:placeholder": "{{ flow.name }} run {{ flow_run.name }} is {{ state.name }} <{{ flow_run.url }}>",
        "ui:help": "A template; left empty, the message says it all.",
      },
      body: { "ui:title": "Body", "ui:field": "json", "ui:help": "Any JSON; its strings are templates." },
      deployment: { "ui:title": "Deployment", "ui:placeholder": "<flow name>/<deployment name>" },
      parameters: { "ui:title": "Parameters", "ui:field": "json", "ui:help": "A JSON object." },
      workPool: { "ui:title": "Work pool" },
      destinations: {
        "ui:title": "Destinations",
        "ui:help": "Each gets the message on its own; one failing does not stop the others.",
        items: {
          "ui:title": "Destination",
          type: { "ui:title": "Kind" },
          secret: { "ui:title": "Secret", "ui:widget": "secret" },
        },
      },
      flowRunId: { "ui:title": "Flow run id", "ui:help": "Left empty: the event's flow run." },
      state: { "ui:title": "State type" },
      message: { "ui:title": "Message", "ui:help": "A template; the state's message." },
    },
  },
};

/** The fields of a metric trigger, in the form. */
const metricTriggerUi: UiSchema = {
  "ui:title": "Trigger",
  "ui:description":
    "Measured over the flow runs that ended in the range; it fires once, and again after it came back.",
  "ui:order": [
    "metric",
    "operator",
    "threshold",
    "rangeSeconds",
    "firingForSeconds",
    "minRuns",
    "flows",
    "deployments",
    "*",
  ],
  type: { "ui:widget": "hidden" },
  metric: {
    "ui:title": "Metric",
    "ui:help":
      "failure-ratio: the share that FAILED or CRASHED (0 to 1); mean-duration: their mean run time, in seconds.",
  },
  operator: { "ui:title": "Operator" },
  threshold: { "ui:title": "Threshold" },
  rangeSeconds: {
    "ui:title": "Range (seconds)",
    "ui:help": "The window the runs ended in: 60 s to 30 days.",
  },
  firingForSeconds: {
    "ui:title": "Firing for (seconds)",
    "ui:help": "How long it stays past the threshold before it fires.",
  },
  minRuns: { "ui:title": "At least this many runs", "ui:help": "Fewer say nothing." },
  flows: {
    "ui:title": "Flows",
    ...lines("Flow names, one a line; every flow's runs when empty.", "nightly-etl"),
  },
  deployments: {
    "ui:title": "Deployments",
    ...lines("As <flow name>/<deployment name>, one a line.", "nightly-etl/prod"),
  },
};

/** The form's titles, help and widgets for a kind of trigger. */
export const uiSchemaFor = (kind: TriggerKind): UiSchema =>
  kind === "metric" ? { ...automationUiSchema, trigger: metricTriggerUi } : automationUiSchema;

/** A new automation: failed and crashed flow runs, recorded by the test sink until a real action is chosen. */
export const NEW_AUTOMATION: AutomationDraft = {
  enabled: true,
  trigger: { events: [EventName.FlowRunStateChanged], stateTypes: ["FAILED", "CRASHED"] },
  actions: [{ type: "test-sink" }],
};

/**
 * Whether the form can draw a draft: it draws event and metric triggers; a compound or sequence
 * trigger is edited as JSON. The reason when it cannot.
 */
export function formTakes(draft: AutomationDraft): string | null {
  const type = isObject(draft.trigger) ? draft.trigger.type : undefined;
  return type === "compound" || type === "sequence"
    ? `The form draws event and metric triggers; a ${type} trigger is edited as JSON.`
    : null;
}

/** An automation as the form edits it. */
export function draftOf(automation: Automation): AutomationDraft {
  const { name, description, enabled, trigger, actions } = automation;
  return { name, ...(description ? { description } : {}), enabled, trigger, actions };
}

const isEmpty = (value: unknown) =>
  value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);

function withoutEmpty(object: unknown): unknown {
  if (!isObject(object)) return object;
  return Object.fromEntries(Object.entries(object).filter(([, value]) => !isEmpty(value)));
}

/**
 * Leaves out what a form holds for fields left blank (empty texts and lists), in the automation,
 * its trigger and its actions; a webhook's body and a run's parameters are kept as written.
 */
export function cleanDraft(draft: AutomationDraft): AutomationDraft {
  const clean = withoutEmpty(draft) as AutomationDraft;
  // A compound or sequence trigger is written as JSON: kept as written, an empty list included.
  if (isObject(clean.trigger) && !formTakes(clean)) clean.trigger = withoutEmpty(clean.trigger);
  if (Array.isArray(clean.actions)) clean.actions = clean.actions.map(withoutEmpty);
  return clean;
}

export type Checked = { ok: true; value: AutomationCreate } | { ok: false; issues: FieldIssue[] };

/** Checks a draft as the server will, with the model itself (its cross-field rules included). */
export function checkAutomation(draft: unknown): Checked {
  const parsed = AutomationCreate.safeParse(draft);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => ({
      path: issue.path.length > 0 ? issue.path.join(".") : "(automation)",
      message: issue.message,
    })),
  };
}

/** The server names a field of the body as `body.trigger.events`; the form knows it as `trigger.events`. */
export const bodyIssues = (issues: FieldIssue[]): FieldIssue[] =>
  issues.map(({ path, message }) => ({
    path: path === "body" ? "(automation)" : path.replace(/^body\./, ""),
    message,
  }));

/** The same JSON whatever the order of the keys. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, canonical(value[key])]),
  );
}
const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/**
 * Only what changed: the server starts an automation's count afresh when its trigger or `enabled`
 * is sent, so an edit of its text alone must not send them.
 */
export function changesFrom(automation: Automation, checked: AutomationCreate): AutomationUpdate {
  const next = AutomationCreate.parse(checked);
  const changes: AutomationUpdate = {};
  if (next.name !== automation.name) changes.name = next.name;
  if ((next.description ?? null) !== automation.description) changes.description = next.description ?? null;
  if (next.enabled !== automation.enabled) changes.enabled = next.enabled;
  if (!same(next.trigger, automation.trigger)) changes.trigger = next.trigger;
  if (!same(next.actions, automation.actions)) changes.actions = next.actions;
  return changes;
}
