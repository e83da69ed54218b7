/**
 * The server's OpenTelemetry traces (docs/operations.md), exported over OTLP/HTTP when an endpoint is
 * set; server.ts loads this module only then, so that traces off cost nothing.
 *
 * Two kinds of spans:
 * - one per HTTP request answered (kind SERVER), made with the tracer when the answer is sent, and a
 *   child of the caller's span when the request carries a W3C `traceparent` header;
 * - one per flow run and task run that ends, made by this server from what it stored, whichever
 *   process ran the run: the server sees every state change, so the SDK needs no exporter of its own.
 *   Their ids are derived from the runs' ids, so that a child finds its parent without either being
 *   kept in memory: the trace id is the root flow run's id (its 32 hex digits: search a run's trace by
 *   its id), the span id the last 16 hex digits of the run's own id, the parent a task run's flow run,
 *   or a subflow run's parent task run (or, called from the flow itself, its parent flow run). Such
 *   spans are built whole and handed to the span processor, as the tracer cannot take chosen ids.
 *
 * Each server makes the spans of the runs it saw end (`subscribeOwn`), so servers sharing a database
 * export each run once.
 */
import {
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type HrTime,
  type SpanContext,
  type SpanStatus,
  type Tracer,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
  type Resource,
} from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type TimedEvent,
} from "@opentelemetry/sdk-trace-base";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import { EventName, eventState, isTerminal, type BatonEvent, type State } from "@baton/core";
import type { Db } from "./db/database.js";
import type { EventBus } from "./events.js";
import { fromJson } from "./store/context.js";

/** Runs read from the database at once, at most (bounded `in` lists). */
const BATCH = 500;
/** A state message longer than this is cut in span attributes. */
const MAX_MESSAGE = 1000;
/** How long a stopping server waits for its last spans to be sent. */
const CLOSE_FLUSH_MS = 3000;
/** Subflows nested deeper than this are traced from the deepest parent found. */
const MAX_DEPTH = 100;

type RunKind = "flow" | "task";

export interface TracesOptions {
  /** The OTLP/HTTP traces URL (a collector's `/v1/traces`). */
  endpoint: string;
  serviceName: string;
  version: string;
  /** Where failures are told (the server's log): reading ended runs, sending spans. */
  warn: (message: string) => void;
}

/** What a span of a run is made of, read from the database. */
interface RunSpan {
  kind: RunKind;
  id: string;
  /** The span's parent run: a task run's flow run, a subflow run's parent task or flow run. */
  parentId: string | null;
  /** The flow run whose root names the trace (a task run's own; a flow run itself). */
  flowRunId: string | null;
  name: string;
  attributes: Attributes;
  states: State[];
}

export class ServerTraces {
  readonly #provider: BasicTracerProvider;
  readonly #processor: BatchSpanProcessor;
  readonly #tracer: Tracer;
  readonly #resource: Resource;
  readonly #scope: { name: string; version: string };
  readonly #db: Db;
  readonly #warn: (message: string) => void;
  readonly #unsubscribe: () => void;
  /** Runs that ended, waiting to be read and exported. */
  readonly #ended: { kind: RunKind; id: string }[] = [];
  #reading: Promise<void> | null = null;

  constructor(db: Db, events: EventBus, options: TracesOptions) {
    this.#db = db;
    this.#warn = options.warn;
    // OTEL_RESOURCE_ATTRIBUTES adds to what the server says of itself.
    this.#resource = defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(
        resourceFromAttributes({
          [ATTR_SERVICE_NAME]: options.serviceName,
          [ATTR_SERVICE_VERSION]: options.version,
        }),
      );
    // The exporter reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _COMPRESSION itself; the processor
    // OTEL_BSP_*, the provider OTEL_TRACES_SAMPLER (request spans only: a run's span is always sent).
    this.#processor = new BatchSpanProcessor(
      new WarningExporter(new OTLPTraceExporter({ url: options.endpoint }), options.endpoint, options.warn),
    );
    this.#provider = new BasicTracerProvider({ resource: this.#resource, spanProcessors: [this.#processor] });
    this.#scope = { name: "baton-server", version: options.version };
    this.#tracer = this.#provider.getTracer(this.#scope.name, this.#scope.version);
    this.#unsubscribe = events.subscribeOwn((event) => this.#runEnded(event));
  }

  /**
   * One answered HTTP request, told when its answer is sent (the metrics' hook): it started
   * `elapsedMs` ago. `route` is the pattern the router matched, never the raw URL.
   */
  request(request: {
    method: string;
    route: string | undefined;
    path: string;
    statusCode: number;
    elapsedMs: number;
    traceparent: string | string[] | undefined;
  }): void {
    const end = Date.now();
    const route = request.route ?? "unmatched";
    const caller = typeof request.traceparent === "string" ? parseTraceparent(request.traceparent) : null;
    const span = this.#tracer.startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        startTime: end - request.elapsedMs,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_HTTP_ROUTE]: route,
          [ATTR_HTTP_RESPONSE_STATUS_CODE]: request.statusCode,
          [ATTR_URL_PATH]: request.path,
        },
      },
      caller ? trace.setSpanContext(ROOT_CONTEXT, caller) : ROOT_CONTEXT,
    );
    if (request.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(end);
  }

  /** Exports the spans of the runs that ended so far and those waiting in the processor, and stops. */
  async close(): Promise<void> {
    this.#unsubscribe();
    // A reading may start another for runs that ended while it finished.
    while (this.#reading) await this.#reading;
    // A collector that refuses them does not fail the server's stop (the exporter told the log), and
    // one that is down holds it up for a few seconds at most (the exporter retries for longer).
    const sent = this.#provider.shutdown().catch(() => undefined);
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([sent, new Promise((resolve) => (giveUp = setTimeout(resolve, CLOSE_FLUSH_MS)))]);
    clearTimeout(giveUp);
  }

  #runEnded(event: BatonEvent): void {
    const state = eventState(event);
    if (!state || !isTerminal(state.type)) return;
    this.#ended.push({
      kind: event.name === EventName.FlowRunStateChanged ? "flow" : "task",
      id: event.resource.id,
    });
    this.#read();
  }

  /** Reads and exports the ended runs, a batch at a time, one reading at a time. */
  #read(): void {
    if (this.#reading) return;
    this.#reading = (async () => {
      while (this.#ended.length > 0) {
        const batch = this.#ended.splice(0, BATCH);
        try {
          await this.#export(batch);
        } catch (error) {
          this.#warn(
            `the spans of ${batch.length} ended run(s) could not be read from the database: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    })().finally(() => {
      this.#reading = null;
      // A run that ended while the last batch was exported.
      if (this.#ended.length > 0) this.#read();
    });
  }

  async #export(ended: { kind: RunKind; id: string }[]): Promise<void> {
    const ids = (kind: RunKind) => [
      ...new Set(ended.filter((run) => run.kind === kind).map((run) => run.id)),
    ];
    const [flowRuns, taskRuns] = await Promise.all([
      this.#readFlowRuns(ids("flow")),
      this.#readTaskRuns(ids("task")),
    ]);
    const runs = [...flowRuns, ...taskRuns];
    const rootOf = await this.#roots(runs.flatMap((run) => (run.flowRunId ? [run.flowRunId] : [])));
    for (const run of runs) {
      const span = this.#runSpan(run, rootOf(run.flowRunId ?? run.id));
      if (span) this.#processor.onEnd(span);
    }
  }

  async #readFlowRuns(ids: string[]): Promise<RunSpan[]> {
    if (ids.length === 0) return [];
    const db = this.#db.kysely;
    const [rows, states] = await Promise.all([
      db
        .selectFrom("flowRuns")
        .leftJoin("flows", "flows.id", "flowRuns.flowId")
        .select([
          "flowRuns.id",
          "flowRuns.name",
          "flows.name as flowName",
          "flowRuns.deploymentId",
          "flowRuns.deploymentName",
          "flowRuns.workPoolName",
          "flowRuns.workQueueName",
          "flowRuns.parentFlowRunId",
          "flowRuns.parentTaskRunId",
          "flowRuns.runCount",
          "flowRuns.retries",
          "flowRuns.attempt",
          "flowRuns.tags",
        ])
        .where("flowRuns.id", "in", ids)
        .execute(),
      db
        .selectFrom("states")
        .select(["flowRunId as runId", "state"])
        .where("flowRunId", "in", ids)
        .orderBy("timestamp")
        .orderBy("id")
        .execute(),
    ]);
    const history = statesByRun(states);
    return rows.map((row) => ({
      kind: "flow",
      id: row.id,
      parentId: row.parentTaskRunId ?? row.parentFlowRunId,
      flowRunId: row.id,
      name: `flow-run ${row.flowName ?? row.name}`,
      attributes: withoutNulls({
        "baton.run.kind": "flow-run",
        "baton.run.id": row.id,
        "baton.run.name": row.name,
        "baton.flow.name": row.flowName,
        "baton.flow_run.id": row.id,
        "baton.parent_flow_run.id": row.parentFlowRunId,
        "baton.parent_task_run.id": row.parentTaskRunId,
        "baton.deployment.id": row.deploymentId,
        "baton.deployment.name": row.deploymentName,
        "baton.work_pool.name": row.workPoolName,
        "baton.work_queue.name": row.workQueueName,
        "baton.run.count": row.runCount,
        "baton.run.retries": row.retries,
        "baton.flow_run.attempt": Number(row.attempt),
        "baton.run.tags": fromJson<string[]>(row.tags, []),
      }),
      states: history.get(row.id) ?? [],
    }));
  }

  async #readTaskRuns(ids: string[]): Promise<RunSpan[]> {
    if (ids.length === 0) return [];
    const db = this.#db.kysely;
    const [rows, states] = await Promise.all([
      db
        .selectFrom("taskRuns")
        .leftJoin("flowRuns", "flowRuns.id", "taskRuns.flowRunId")
        .leftJoin("flows", "flows.id", "flowRuns.flowId")
        .select([
          "taskRuns.id",
          "taskRuns.name",
          "taskRuns.taskKey",
          "taskRuns.flowRunId",
          "taskRuns.runCount",
          "taskRuns.retries",
          "taskRuns.tags",
          "flows.name as flowName",
          "flowRuns.deploymentId",
          "flowRuns.deploymentName",
          "flowRuns.workPoolName",
        ])
        .where("taskRuns.id", "in", ids)
        .execute(),
      db
        .selectFrom("states")
        .select(["taskRunId as runId", "state"])
        .where("taskRunId", "in", ids)
        .orderBy("timestamp")
        .orderBy("id")
        .execute(),
    ]);
    const history = statesByRun(states);
    return rows.map((row) => ({
      kind: "task",
      id: row.id,
      parentId: row.flowRunId,
      flowRunId: row.flowRunId,
      name: `task-run ${row.taskKey}`,
      attributes: withoutNulls({
        "baton.run.kind": "task-run",
        "baton.run.id": row.id,
        "baton.run.name": row.name,
        "baton.task.key": row.taskKey,
        "baton.flow.name": row.flowName,
        "baton.flow_run.id": row.flowRunId,
        "baton.deployment.id": row.deploymentId,
        "baton.deployment.name": row.deploymentName,
        "baton.work_pool.name": row.workPoolName,
        "baton.run.count": row.runCount,
        "baton.run.retries": row.retries,
        "baton.run.tags": fromJson<string[]>(row.tags, []),
      }),
      states: history.get(row.id) ?? [],
    }));
  }

  /** The root of each flow run's chain of parent flow runs: one query per level of nesting. */
  async #roots(flowRunIds: string[]): Promise<(id: string) => string> {
    const parentOf = new Map<string, string | null>();
    let unknown = [...new Set(flowRunIds)];
    for (let depth = 0; unknown.length > 0 && depth < MAX_DEPTH; depth++) {
      const rows = await this.#db.kysely
        .selectFrom("flowRuns")
        .select(["id", "parentFlowRunId"])
        .where("id", "in", unknown)
        .execute();
      // A parent deleted meanwhile ends the chain.
      for (const id of unknown) parentOf.set(id, null);
      for (const row of rows) parentOf.set(row.id, row.parentFlowRunId);
      unknown = [
        ...new Set(rows.flatMap((row) => (row.parentFlowRunId ? [row.parentFlowRunId] : []))),
      ].filter((id) => !parentOf.has(id));
    }
    return (id) => {
      let root = id;
      for (let depth = 0; depth < MAX_DEPTH; depth++) {
        const parent = parentOf.get(root);
        if (!parent) break;
        root = parent;
      }
      return root;
    };
  }

  /**
   * The span of a run's last way to its end: from its first RUNNING state (a run that never ran lasts
   * no time, at its end) to its final state, each state on the way an event (AwaitingRetry and
   * Retrying tell the retries). A rerun's span starts after the end before it.
   */
  #runSpan(run: RunSpan, rootId: string): ReadableSpan | null {
    const lastEnd = run.states.findLastIndex((state) => isTerminal(state.type));
    if (lastEnd < 0) return null;
    const previousEnd = run.states.slice(0, lastEnd).findLastIndex((state) => isTerminal(state.type));
    const states = run.states.slice(previousEnd + 1, lastEnd + 1);
    const final = states[states.length - 1]!;
    const endTime = toHrTime(final.timestamp);
    const started = states.find((state) => state.type === "RUNNING");
    const startTime = started ? toHrTime(started.timestamp) : endTime;
    const spanContext: SpanContext = {
      traceId: traceIdOf(rootId),
      spanId: spanIdOf(run.id),
      traceFlags: TraceFlags.SAMPLED,
    };
    if (!isSpanContextValid(spanContext)) return null;
    const parentSpanContext = run.parentId
      ? { traceId: spanContext.traceId, spanId: spanIdOf(run.parentId), traceFlags: TraceFlags.SAMPLED }
      : undefined;
    const message = final.message ? final.message.slice(0, MAX_MESSAGE) : undefined;
    const events: TimedEvent[] = states.map((state) => ({
      name: state.name,
      time: toHrTime(state.timestamp),
      attributes: withoutNulls({
        "baton.state.type": state.type,
        "baton.state.name": state.name,
        "baton.state.message": state.message ? state.message.slice(0, MAX_MESSAGE) : null,
        "baton.state.scheduled_time": state.scheduledTime ?? null,
      }),
    }));
    return {
      name: run.name,
      kind: SpanKind.INTERNAL,
      spanContext: () => spanContext,
      ...(parentSpanContext ? { parentSpanContext } : {}),
      startTime,
      endTime,
      duration: hrTimeBetween(startTime, endTime),
      status: statusOf(final),
      attributes: withoutNulls({
        ...run.attributes,
        "baton.state.type": final.type,
        "baton.state.name": final.name,
        "baton.state.message": message ?? null,
      }),
      links: [],
      events,
      ended: true,
      resource: this.#resource,
      instrumentationScope: this.#scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }
}

/** The outcome of an export (OpenTelemetry's `ExportResult`). */
type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0];
/** `ExportResultCode.SUCCESS`, of @opentelemetry/core (which the SDK depends on, not the server). */
const EXPORTED = 0 as ExportResult["code"];

/**
 * Tells the server's log when spans cannot be sent (the SDK would tell only a global diagnostic
 * logger), once until they can again, so that a collector that is down does not flood the log.
 */
class WarningExporter implements SpanExporter {
  readonly #exporter: SpanExporter;
  readonly #endpoint: string;
  readonly #warn: (message: string) => void;
  #failing = false;

  constructor(exporter: SpanExporter, endpoint: string, warn: (message: string) => void) {
    this.#exporter = exporter;
    this.#endpoint = endpoint;
    this.#warn = warn;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#exporter.export(spans, (result) => {
      const failed = result.code !== EXPORTED;
      if (failed && !this.#failing) {
        this.#warn(
          `${spans.length} span(s) could not be sent to ${this.#endpoint}: ${result.error?.message ?? "the export failed"}; check OTEL_EXPORTER_OTLP_ENDPOINT and the collector (told once until spans go through again)`,
        );
      } else if (!failed && this.#failing) {
        this.#warn(`spans are sent to ${this.#endpoint} again`);
      }
      this.#failing = failed;
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#exporter.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#exporter.forceFlush?.() ?? Promise.resolve();
  }
}

/** The caller's span from a W3C `traceparent` header (`00-<trace id>-<span id>-<flags>`); null if malformed. */
export function parseTraceparent(header: string): SpanContext | null {
  const match = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim());
  if (!match || match[1] === "ff") return null;
  const context: SpanContext = {
    traceId: match[2]!,
    spanId: match[3]!,
    traceFlags: parseInt(match[4]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(context) ? context : null;
}

/** A run id's 32 hex digits (ids are UUIDs): the trace id of the trace it roots. */
export const traceIdOf = (runId: string): string => runId.replaceAll("-", "").toLowerCase();

/** The last 16 hex digits of a run id (a UUIDv7's random part): its span's id. */
export const spanIdOf = (runId: string): string => traceIdOf(runId).slice(16);

function statusOf(state: State): SpanStatus {
  if (state.type === "COMPLETED") return { code: SpanStatusCode.OK };
  if (state.type === "FAILED" || state.type === "CRASHED") {
    return {
      code: SpanStatusCode.ERROR,
      ...(state.message ? { message: state.message.slice(0, MAX_MESSAGE) } : {}),
    };
  }
  // A cancelled run did not fail.
  return { code: SpanStatusCode.UNSET };
}

function statesByRun(rows: { runId: string | null; state: string }[]): Map<string, State[]> {
  const byRun = new Map<string, State[]>();
  for (const row of rows) {
    if (row.runId === null) continue;
    const states = byRun.get(row.runId) ?? [];
    states.push(JSON.parse(row.state) as State);
    byRun.set(row.runId, states);
  }
  return byRun;
}

function withoutNulls(attributes: Record<string, Attributes[string] | null>): Attributes {
  const kept: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== null) kept[key] = value;
  return kept;
}

function toHrTime(iso: string): HrTime {
  const ms = Date.parse(iso);
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

function hrTimeBetween(start: HrTime, end: HrTime): HrTime {
  let seconds = end[0] - start[0];
  let nanos = end[1] - start[1];
  if (nanos < 0) {
    seconds -= 1;
    nanos += 1_000_000_000;
  }
  return [seconds, nanos];
}
