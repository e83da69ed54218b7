import type { AutomationTrigger, StoredEvent } from "../api/automations.js";
import { eventState } from "../events.js";

/** A filter left out matches everything; one given needs the event to have one of its values. */
const anyOf = (wanted: readonly string[] | undefined, value: string | null | undefined): boolean =>
  wanted === undefined || (value != null && wanted.includes(value));

/** Whether an event is one the trigger looks for (its posture then decides what that means). */
export function matchesTrigger(trigger: AutomationTrigger, event: StoredEvent): boolean {
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
  trigger: AutomationTrigger,
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
    trigger.posture === "proactive" &&
    now.getTime() - Date.parse(window.start) >= (trigger.withinSeconds ?? 0) * 1000
  );
}
