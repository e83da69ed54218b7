import {
  isEventTrigger,
  type AutomationTrigger,
  type CombinedTrigger,
  type EventTrigger,
  type StoredEvent,
} from "../api/automations.js";
import { eventState } from "../events.js";

/** A filter left out matches everything; one given needs the event to have one of its values. */
const anyOf = (wanted: readonly string[] | undefined, value: string | null | undefined): boolean =>
  wanted === undefined || (value != null && wanted.includes(value));

/** Whether an event is one the trigger looks for (its posture then decides what that means). */
export function matchesTrigger(trigger: EventTrigger, event: StoredEvent): boolean {
  const { related } = event;
  const state = eventState(event);
  const deployment =
    related.flowName !== null && related.deploymentName !== null
      ? `${related.flowName}/${related.deploymentName}`
      : null;
  return (
    (trigger.events as readonly string[]).includes(event.name) &&
    anyOf(trigger.flows, related.flowName) &&
    anyOf(trigger.deployments, deployment) &&
    anyOf(trigger.workPools, related.workPoolName) &&
    (trigger.tags === undefined || trigger.tags.some((tag) => related.tags.includes(tag))) &&
    anyOf(trigger.stateTypes, state?.type) &&
    anyOf(trigger.stateNames, state?.name)
  );
}

/**
 * What an automation remembers between events. Reactive: the matching events counted since `start`
 * (0: no window open). Proactive: `start` is when the last matching event happened (or the
 * automation was enabled, or it last fired).
 */
export interface TriggerWindow {
  start: string;
  count: number;
}

/** A new or changed automation starts afresh. */
export const freshWindow = (now: Date): TriggerWindow => ({ start: now.toISOString(), count: 0 });

/** Takes in one matching event: the window after it, and whether the automation fires on it. */
export function observeMatch(
  trigger: EventTrigger,
  window: TriggerWindow,
  occurred: string,
): { window: TriggerWindow; fires: boolean } {
  if (trigger.posture === "proactive") {
    // Events may be matched a little out of order: the window restarts at the latest one.
    const start = Date.parse(occurred) > Date.parse(window.start) ? occurred : window.start;
    return { window: { start, count: 0 }, fires: false };
  }
  const withinMs = (trigger.withinSeconds ?? 0) * 1000;
  const open = window.count > 0 && Date.parse(occurred) - Date.parse(window.start) <= withinMs;
  const count = open ? window.count + 1 : 1;
  // Firing empties the window: the next firing needs `threshold` new events.
  if (count >= trigger.threshold) return { window: { start: occurred, count: 0 }, fires: true };
  return { window: { start: open ? window.start : occurred, count }, fires: false };
}

/** A proactive trigger is due when no matching event came for `withinSeconds` since its window started. */
export function proactiveDue(trigger: AutomationTrigger, window: TriggerWindow, now: Date): boolean {
  return (
    isEventTrigger(trigger) &&
    trigger.posture === "proactive" &&
    now.getTime() - Date.parse(window.start) >= (trigger.withinSeconds ?? 0) * 1000
  );
}

/**
 * What a compound or sequence trigger remembers between events, stored with the automation: each
 * event trigger's own window (its threshold is counted there), and when each one last matched
 * (a sequence: when each step of the sequence matched so far, in order; null for the rest).
 */
export interface CombinedState {
  windows: TriggerWindow[];
  matched: (string | null)[];
}

/** A new or changed compound or sequence trigger starts with nothing matched. */
export const freshCombinedState = (trigger: CombinedTrigger, now: Date): CombinedState => ({
  windows: trigger.triggers.map(() => freshWindow(now)),
  matched: trigger.triggers.map(() => null),
});

/** The state stored, or a fresh one when it is missing or was made for another trigger. */
export function combinedStateOf(trigger: CombinedTrigger, stored: unknown, now: Date): CombinedState {
  const state = stored as Partial<CombinedState> | null | undefined;
  const size = trigger.triggers.length;
  return Array.isArray(state?.windows) &&
    Array.isArray(state.matched) &&
    state.windows.length === size &&
    state.matched.length === size
    ? (state as CombinedState)
    : freshCombinedState(trigger, now);
}

/** How many of a compound trigger's event triggers must match for it to fire. */
export const required = (trigger: CombinedTrigger): number =>
  trigger.type === "sequence" || trigger.require === "all"
    ? trigger.triggers.length
    : trigger.require === "any"
      ? 1
      : trigger.require;

/**
 * Takes in one event for a compound or sequence trigger: the state after it, and whether the
 * trigger fires on it. An event trigger "matches" when it would fire on its own (its threshold met).
 *
 * compound: each event trigger's last match counts for `within` seconds; the trigger fires when
 * `required` of them count at once, and then starts afresh.
 *
 * sequence: the steps match in order, each by a later event than the one before, all within
 * `within` seconds of the first step; it fires on the last step and starts afresh. A first step
 * matching again while only the first has matched starts the window again from it.
 */
export function observeCombined(
  trigger: CombinedTrigger,
  state: CombinedState,
  event: StoredEvent,
): { state: CombinedState; fires: boolean } {
  const at = Date.parse(event.occurred);
  const withinMs = trigger.within * 1000;
  const windows = [...state.windows];
  const hits = new Set<number>();
  trigger.triggers.forEach((child, index) => {
    if (!matchesTrigger(child, event)) return;
    const seen = observeMatch(child, windows[index]!, event.occurred);
    windows[index] = seen.window;
    if (seen.fires) hits.add(index);
  });
  if (hits.size === 0) return { state: { windows, matched: state.matched }, fires: false };

  const none = trigger.triggers.map(() => null);
  if (trigger.type === "compound") {
    const matched = state.matched.map((when, index) =>
      hits.has(index) ? event.occurred : when !== null && at - Date.parse(when) <= withinMs ? when : null,
    );
    const count = matched.filter((when) => when !== null).length;
    if (count >= required(trigger)) return { state: { windows, matched: none }, fires: true };
    return { state: { windows, matched }, fires: false };
  }

  // A sequence whose first step is older than the window starts again.
  const first = state.matched[0] ?? null;
  let matched = first !== null && at - Date.parse(first) <= withinMs ? [...state.matched] : [...none];
  const step = matched.findIndex((when) => when === null);
  if (hits.has(step)) {
    matched[step] = event.occurred;
    if (step === matched.length - 1) return { state: { windows, matched: none }, fires: true };
  } else if (hits.has(0) && step <= 1) {
    matched = [event.occurred, ...none.slice(1)];
  }
  return { state: { windows, matched }, fires: false };
}
