import type { JsonObject } from "../api/common.js";

type Json = JsonObject[string];

/**
 * What a template can refer to when an automation fires, `{{ flow_run.name }}` and the like. Parts
 * the event does not concern (no flow run for a work-pool event; no event at all for a proactive
 * trigger) are null and render as empty text.
 */
export interface TemplateValues {
  automation: { id: string; name: string };
  /** The event's payload: a custom event's own fields (`{{ event.payload.order_id }}`). */
  event: { id: string; name: string; occurred: string; payload: JsonObject } | null;
  resource: { kind: string; id: string } | null;
  flow_run: { id: string; name: string; url: string } | null;
  flow: { name: string } | null;
  deployment: { name: string; full_name: string } | null;
  work_pool: { name: string } | null;
  state: { type: string; name: string; message: string | null } | null;
  /**
   * A metric trigger's firing: the metric, its value, the runs it was measured over (ended in the last
   * `range_seconds`) and the flows or deployments they are of (empty: every flow).
   */
  metric?: {
    name: string;
    value: number;
    operator: string;
    threshold: number;
    runs: number;
    range_seconds: number;
    of: string[];
  } | null;
  /** A compound or sequence trigger's: its event triggers' events, and its window as within_seconds. */
  trigger: {
    type: string;
    posture: string;
    events: string[];
    within_seconds: number | null;
    threshold: number;
  };
}

// A dotted path of plain names between double braces: nothing else is ever looked at, let alone run.
// Names may hold '-' after their first character, as HTTP headers do (`{{ headers.x-github-event }}`).
const PATH = String.raw`([A-Za-z_][\w-]*(?:\.[A-Za-z_0-9][\w-]*)*)`;
const TAG = new RegExp(String.raw`\{\{\s*${PATH}\s*\}\}`, "g");
/** A string that is one tag and nothing else: its value is taken as it is (a number stays a number). */
const WHOLE_TAG = new RegExp(String.raw`^\{\{\s*${PATH}\s*\}\}$`);

function lookup(values: unknown, path: string): unknown {
  let current = values;
  for (const key of path.split(".")) {
    // Own properties only: `{{ constructor }}` or `{{ x.__proto__ }}` find nothing.
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Template values are JSON: text as it is, numbers and objects as JSON, nothing for null. */
const asText = (value: unknown): string =>
  value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);

/** Replaces each `{{ path }}` by the value at that path (empty when there is none). */
export function renderTemplate(template: string, values: TemplateValues | JsonObject): string {
  return template.replace(TAG, (_, path: string) => asText(lookup(values, path)));
}

/** Renders every string inside a JSON value (a webhook's body), keeping its shape. */
export function renderJson(value: Json, values: TemplateValues | JsonObject): Json {
  if (typeof value === "string") return renderTemplate(value, values);
  if (Array.isArray(value)) return value.map((item) => renderJson(item, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderJson(item, values)]));
  }
  return value;
}

/**
 * Renders a JSON value whose strings are templates, keeping the values' types where a string is one
 * `{{ path }}` and nothing else: `"{{ event.payload.count }}"` gives the number 3, an object its
 * object, a missing value null. Other strings are rendered as text. Used for a run-deployment
 * action's parameters and a webhook's template.
 */
export function renderTyped(value: Json, values: TemplateValues | JsonObject): Json {
  if (typeof value === "string") {
    const whole = WHOLE_TAG.exec(value);
    if (!whole) return renderTemplate(value, values);
    const found = lookup(values, whole[1] ?? "");
    return found === undefined ? null : (found as Json);
  }
  if (Array.isArray(value)) return value.map((item) => renderTyped(item, values));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderTyped(item, values)]));
  }
  return value;
}

/** The message of a notification that gives no text of its own. */
export function defaultMessage(values: TemplateValues): string {
  const head = `Baton automation '${values.automation.name}'`;
  const { event, trigger, metric } = values;
  if (metric) {
    const of = metric.of.length ? metric.of.join(", ") : "every flow";
    return `${head}: ${metric.name} of ${of} is ${metric.value} (${metric.operator} ${metric.threshold}) over the ${metric.runs} runs that ended in the last ${metric.range_seconds} s.`;
  }
  if (!event) {
    return `${head}: no ${trigger.events.join(" or ")} event matched for ${trigger.within_seconds ?? 0} s.`;
  }
  const what =
    values.resource?.kind === "flow-run" && values.flow_run
      ? `flow run '${values.flow_run.name}'`
      : `${event.name} of ${values.resource?.kind ?? "resource"} ${values.resource?.id ?? ""}`.trimEnd();
  const where = [
    values.flow && `flow '${values.flow.name}'`,
    values.deployment && `deployment '${values.deployment.full_name}'`,
    values.work_pool && `work pool '${values.work_pool.name}'`,
  ].filter(Boolean);
  const state = values.state
    ? ` is ${values.state.name}${values.state.message ? `: ${values.state.message}` : ""}`
    : "";
  const link = values.flow_run ? ` ${values.flow_run.url}` : "";
  return `${head}: ${what}${where.length ? ` (${where.join(", ")})` : ""}${state}${link}`;
}
