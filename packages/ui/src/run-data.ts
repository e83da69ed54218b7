/** Everything a flow run's page shows, kept up to date from the event stream. */
import {
  EventName,
  isTerminal,
  type FlowRun,
  type Log,
  type StateHistoryEntry,
  type TaskRun,
} from "@baton/core";
import { useState } from "react";
import {
  useApi,
  useDebouncedBatch,
  useEvents,
  usePagedList,
  type LiveStatus,
  type PagedList,
  type Resource,
} from "./api.js";
import { useEvery } from "./components.js";

/** How often a running run's subflows are read again. */
const SUBFLOWS_REFRESH_MS = 2000;

const byTime = (a: Log, b: Log) =>
  Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export interface RunData {
  run: Resource<FlowRun>;
  states: Resource<StateHistoryEntry[]>;
  tasks: PagedList<TaskRun>;
  /** Flow runs started by this one (its subflows). */
  subflows: PagedList<FlowRun>;
  logs: PagedList<Log>;
  /** The lowest log level shown (0: all); the server leaves out the rest. */
  minLevel: number;
  setMinLevel: (level: number) => void;
  /** The state of the run's own event stream. */
  live: LiveStatus;
}

type Part = "run" | "tasks" | "subflows" | "logs";

export function useRunData(id: string): RunData {
  const run = useApi((c, signal) => c.api.readFlowRun({ params: { id } }, signal), [id]);
  const states = useApi((c, signal) => c.api.listFlowRunStates({ params: { id } }, signal), [id]);
  const tasks = usePagedList<TaskRun>(
    (c, page, signal) => c.api.listTaskRuns({ query: { flowRunId: id, ...page } }, signal),
    [id],
    { pageSize: 200 },
  );
  const subflows = usePagedList<FlowRun>(
    (c, page, signal) => c.api.listFlowRuns({ query: { parentFlowRunId: id, ...page } }, signal),
    [id],
    { pageSize: 200 },
  );
  const [minLevel, setMinLevel] = useState(0);
  const logs = usePagedList<Log>(
    (c, page, signal) =>
      c.api.listLogs({ query: { flowRunId: id, ...(minLevel > 0 ? { minLevel } : {}), ...page } }, signal),
    [id, minLevel],
    { pageSize: 1000, maxLimit: 5000, tail: { overlap: 50, compare: byTime } },
  );

  const schedule = useDebouncedBatch<Part>((changed) => {
    if (changed.has("run")) {
      run.reload();
      states.reload();
    }
    if (changed.has("tasks")) tasks.refresh();
    if (changed.has("subflows")) subflows.refresh();
    if (changed.has("logs")) logs.refresh();
  });
  const everything = () => (["run", "tasks", "subflows", "logs"] as const).forEach(schedule);

  const live = useEvents(
    { flowRunId: id },
    (event) => {
      if (event.name.startsWith("task-run.")) schedule("tasks");
      else if (event.name === EventName.Log || event.name.startsWith("log.")) schedule("logs");
      else {
        schedule("run");
        schedule("subflows");
      }
    },
    everything,
  );
  // A subflow's events carry its own id, not this run's: following them would take a second
  // stream (a connection of the few a browser opens to one server), so they are looked for instead
  // while this run goes on, and once more when its state changes.
  const going = run.data !== undefined && !isTerminal(run.data.state?.type);
  useEvery(going ? SUBFLOWS_REFRESH_MS : null, subflows.refresh);

  return { run, states, tasks, subflows, logs, minLevel, setMinLevel, live };
}
