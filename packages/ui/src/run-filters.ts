/** The Runs page's filters: read from and written to the URL, so that a reload or a link keeps them. */
import { STATE_TYPES, StateName, type FlowRunQuery, type StateType } from "@baton/core";

const HOUR_MS = 3_600_000;

/** "Created in the last …": measured back from the time the list is read, so it moves on with time. */
export const TIME_RANGES = [
  { value: "1h", label: "Last hour", ms: HOUR_MS },
  { value: "24h", label: "Last 24 hours", ms: 24 * HOUR_MS },
  { value: "7d", label: "Last 7 days", ms: 7 * 24 * HOUR_MS },
  { value: "30d", label: "Last 30 days", ms: 30 * 24 * HOUR_MS },
] as const;
export type TimeRange = (typeof TIME_RANGES)[number]["value"];

export interface RunFilters {
  /** `state`: a state type. */
  stateType: StateType | null;
  /** `stateName`: a state's name, such as Late (the overview links to it). */
  stateName: string | null;
  /** `flow`: a flow's id. */
  flowId: string | null;
  /** `deployment`: a deployment's id. */
  deploymentId: string | null;
  /** `pool`: a work pool's name. */
  workPoolName: string | null;
  tag: string | null;
  /** `range`: created in the last hour, day… */
  range: TimeRange | null;
  /** `after`, `before`: created in a fixed span (ISO times); `range` wins over them. */
  after: string | null;
  before: string | null;
}

/** The URL parameter of each filter. */
export const FILTER_PARAMS = {
  stateType: "state",
  stateName: "stateName",
  flowId: "flow",
  deploymentId: "deployment",
  workPoolName: "pool",
  tag: "tag",
  range: "range",
  after: "after",
  before: "before",
} as const satisfies Record<keyof RunFilters, string>;

const isStateType = (value: string | null): value is StateType =>
  value !== null && (STATE_TYPES as string[]).includes(value);
const isTimeRange = (value: string | null): value is TimeRange =>
  TIME_RANGES.some((range) => range.value === value);
const isTime = (value: string | null): value is string => value !== null && !Number.isNaN(Date.parse(value));

export function readFilters(search: URLSearchParams): RunFilters {
  const text = (name: string) => search.get(name)?.trim() || null;
  const state = search.get(FILTER_PARAMS.stateType);
  const range = search.get(FILTER_PARAMS.range);
  const after = search.get(FILTER_PARAMS.after);
  const before = search.get(FILTER_PARAMS.before);
  return {
    stateType: isStateType(state) ? state : null,
    stateName: text(FILTER_PARAMS.stateName),
    flowId: text(FILTER_PARAMS.flowId),
    deploymentId: text(FILTER_PARAMS.deploymentId),
    workPoolName: text(FILTER_PARAMS.workPoolName),
    tag: text(FILTER_PARAMS.tag),
    range: isTimeRange(range) ? range : null,
    after: isTimeRange(range) || !isTime(after) ? null : after,
    before: isTimeRange(range) || !isTime(before) ? null : before,
  };
}

/** The URL's query string with one filter changed (null removes it); other parameters are kept. */
export function withFilter(
  search: URLSearchParams,
  changes: Partial<Record<keyof RunFilters, string | null>>,
) {
  const next = new URLSearchParams(search);
  for (const [key, value] of Object.entries(changes)) {
    const name = FILTER_PARAMS[key as keyof RunFilters];
    if (value) next.set(name, value);
    else next.delete(name);
  }
  return next.toString();
}

export const isFiltered = (filters: RunFilters): boolean =>
  Object.values(filters).some((value) => value !== null);

/** The type a known state name rides on (Late is SCHEDULED), or null for a name of one's own. */
function typeOfName(name: string): StateType | null {
  return Object.hasOwn(StateName, name) ? StateName[name as StateName] : null;
}

/**
 * The list query for the filters at `now`. A known state name also asks for its type, which the
 * server finds from an index (a name alone would be looked for run by run).
 */
export function flowRunQuery(filters: RunFilters, now: number): FlowRunQuery {
  const type = filters.stateType ?? (filters.stateName ? typeOfName(filters.stateName) : null);
  const range = TIME_RANGES.find((r) => r.value === filters.range);
  const after = range ? new Date(now - range.ms).toISOString() : filters.after;
  return {
    ...(type ? { stateType: [type] } : {}),
    ...(filters.stateName ? { stateName: filters.stateName } : {}),
    ...(filters.flowId ? { flowId: filters.flowId } : {}),
    ...(filters.deploymentId ? { deploymentId: filters.deploymentId } : {}),
    ...(filters.workPoolName ? { workPoolName: filters.workPoolName } : {}),
    ...(filters.tag ? { tag: filters.tag } : {}),
    ...(after ? { createdAfter: after } : {}),
    ...(filters.before && !range ? { createdBefore: filters.before } : {}),
  };
}

/** An ISO time as a `datetime-local` input shows it, in the browser's time zone. */
export function toLocalInput(iso: string | null): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

/** A `datetime-local` input's value (the browser's time zone) as an ISO time, or null when empty. */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
