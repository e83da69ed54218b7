import { sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from "kysely";
import type { Dialect } from "./database.js";

// Migrations take Kysely<any>: they run against whatever schema exists at their point in history.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Db = Kysely<any>;

const stamps = <TB extends string, C extends string>(table: CreateTableBuilder<TB, C>) =>
  table.addColumn("created", "text", (c) => c.notNull()).addColumn("updated", "text", (c) => c.notNull());

const initial = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    await stamps(
      db.schema
        .createTable("flows")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("description", "text")
        .addColumn("tags", "text", (c) => c.notNull()),
    ).execute();

    await stamps(
      db.schema
        .createTable("flow_runs")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("flow_id", "text", (c) => c.notNull().references("flows.id").onDelete("cascade"))
        .addColumn("deployment_id", "text")
        .addColumn("deployment_name", "text")
        .addColumn("parent_flow_run_id", "text")
        .addColumn("parent_task_run_id", "text")
        .addColumn("parameters", "text", (c) => c.notNull())
        .addColumn("tags", "text", (c) => c.notNull())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("idempotency_key", "text")
        .addColumn("work_pool_name", "text")
        .addColumn("work_queue_name", "text")
        .addColumn("work_queue_id", "text")
        .addColumn("job_variables", "text", (c) => c.notNull())
        .addColumn("state", "text")
        .addColumn("state_type", "text")
        .addColumn("state_name", "text")
        .addColumn("run_count", "integer", (c) => c.notNull())
        .addColumn("retries", "integer", (c) => c.notNull())
        .addColumn("retry_delay_seconds", "text", (c) => c.notNull())
        .addColumn("timeout_seconds", "double precision")
        .addColumn("expected_start_time", "text")
        .addColumn("next_scheduled_start_time", "text")
        .addColumn("start_time", "text")
        .addColumn("end_time", "text")
        .addColumn("last_heartbeat", "text")
        .addColumn("worker_name", "text"),
    ).execute();
    await db.schema.createIndex("flow_runs_created").on("flow_runs").columns(["created"]).execute();
    await db.schema.createIndex("flow_runs_flow").on("flow_runs").columns(["flow_id", "created"]).execute();
    await db.schema
      .createIndex("flow_runs_deployment")
      .on("flow_runs")
      .columns(["deployment_id", "created"])
      .execute();
    await db.schema
      .createIndex("flow_runs_state")
      .on("flow_runs")
      .columns(["state_type", "created"])
      .execute();
    await db.schema.createIndex("flow_runs_parent").on("flow_runs").columns(["parent_flow_run_id"]).execute();
    await db.schema
      .createIndex("flow_runs_queue_schedule")
      .on("flow_runs")
      .columns(["work_queue_id", "state_type", "next_scheduled_start_time"])
      .execute();
    await db.schema
      .createIndex("flow_runs_idempotency")
      .on("flow_runs")
      .columns(["flow_id", "idempotency_key"])
      .unique()
      .execute();

    await stamps(
      db.schema
        .createTable("task_runs")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("flow_run_id", "text", (c) => c.references("flow_runs.id").onDelete("cascade"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("task_key", "text", (c) => c.notNull())
        .addColumn("dynamic_key", "text", (c) => c.notNull())
        .addColumn("tags", "text", (c) => c.notNull())
        .addColumn("cache_key", "text")
        .addColumn("cache_expiration", "text")
        .addColumn("task_inputs", "text", (c) => c.notNull())
        .addColumn("state", "text")
        .addColumn("state_type", "text")
        .addColumn("state_name", "text")
        .addColumn("run_count", "integer", (c) => c.notNull())
        .addColumn("retries", "integer", (c) => c.notNull())
        .addColumn("retry_delay_seconds", "text", (c) => c.notNull())
        .addColumn("timeout_seconds", "double precision")
        .addColumn("start_time", "text")
        .addColumn("end_time", "text"),
    ).execute();
    await db.schema
      .createIndex("task_runs_flow_run")
      .on("task_runs")
      .columns(["flow_run_id", "created"])
      .execute();
    await db.schema.createIndex("task_runs_cache").on("task_runs").columns(["cache_key"]).execute();
    await db.schema.createIndex("task_runs_state").on("task_runs").columns(["state_type"]).execute();

    await db.schema
      .createTable("states")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("flow_run_id", "text", (c) => c.references("flow_runs.id").onDelete("cascade"))
      .addColumn("task_run_id", "text", (c) => c.references("task_runs.id").onDelete("cascade"))
      .addColumn("type", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("timestamp", "text", (c) => c.notNull())
      .addColumn("state", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("states_flow_run")
      .on("states")
      .columns(["flow_run_id", "timestamp"])
      .execute();
    await db.schema
      .createIndex("states_task_run")
      .on("states")
      .columns(["task_run_id", "timestamp"])
      .execute();

    await db.schema
      .createTable("logs")
      .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) => c.primaryKey())
      .addColumn("id", "text", (c) => c.notNull().unique())
      .addColumn("flow_run_id", "text")
      .addColumn("task_run_id", "text")
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("level", "integer", (c) => c.notNull())
      .addColumn("message", "text", (c) => c.notNull())
      .addColumn("timestamp", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("logs_flow_run")
      .on("logs")
      .columns(["flow_run_id", "timestamp", "seq"])
      .execute();
    await db.schema.createIndex("logs_task_run").on("logs").columns(["task_run_id"]).execute();

    await stamps(
      db.schema
        .createTable("work_pools")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("description", "text")
        .addColumn("base_job_template", "text", (c) => c.notNull())
        .addColumn("concurrency_limit", "integer")
        .addColumn("paused", "integer", (c) => c.notNull()),
    ).execute();

    await stamps(
      db.schema
        .createTable("work_queues")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("work_pool_id", "text", (c) => c.notNull().references("work_pools.id").onDelete("cascade"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("description", "text")
        .addColumn("priority", "integer", (c) => c.notNull())
        .addColumn("concurrency_limit", "integer")
        .addColumn("paused", "integer", (c) => c.notNull())
        .addColumn("last_polled", "text")
        .addUniqueConstraint("work_queues_pool_name", ["work_pool_id", "name"]),
    ).execute();

    await stamps(
      db.schema
        .createTable("workers")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("work_pool_id", "text", (c) => c.notNull().references("work_pools.id").onDelete("cascade"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("last_heartbeat", "text", (c) => c.notNull())
        .addColumn("heartbeat_interval_seconds", "double precision", (c) => c.notNull())
        .addUniqueConstraint("workers_pool_name", ["work_pool_id", "name"]),
    ).execute();

    await stamps(
      db.schema
        .createTable("deployments")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("flow_id", "text", (c) => c.notNull().references("flows.id").onDelete("cascade"))
        .addColumn("description", "text")
        .addColumn("version", "text")
        .addColumn("entrypoint", "text")
        .addColumn("path", "text")
        .addColumn("parameters", "text", (c) => c.notNull())
        .addColumn("parameter_schema", "text", (c) => c.notNull())
        .addColumn("tags", "text", (c) => c.notNull())
        .addColumn("work_pool_name", "text")
        .addColumn("work_queue_name", "text")
        .addColumn("job_variables", "text", (c) => c.notNull())
        .addColumn("concurrency_limit", "integer")
        .addColumn("paused", "integer", (c) => c.notNull())
        .addColumn("last_polled", "text")
        .addUniqueConstraint("deployments_flow_name", ["flow_id", "name"]),
    ).execute();
    await db.schema.createIndex("deployments_pool").on("deployments").columns(["work_pool_name"]).execute();

    await stamps(
      db.schema
        .createTable("deployment_schedules")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("deployment_id", "text", (c) =>
          c.notNull().references("deployments.id").onDelete("cascade"),
        )
        .addColumn("schedule", "text", (c) => c.notNull())
        .addColumn("active", "integer", (c) => c.notNull()),
    ).execute();
    await db.schema
      .createIndex("deployment_schedules_deployment")
      .on("deployment_schedules")
      .columns(["deployment_id"])
      .execute();

    await stamps(
      db.schema
        .createTable("concurrency_limits")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tag", "text", (c) => c.notNull().unique())
        .addColumn("slot_limit", "integer", (c) => c.notNull()),
    ).execute();
    await db.schema
      .createTable("concurrency_slots")
      .addColumn("tag", "text", (c) => c.notNull().references("concurrency_limits.tag").onDelete("cascade"))
      .addColumn("task_run_id", "text", (c) => c.notNull())
      .addColumn("acquired", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("concurrency_slots_pk", ["tag", "task_run_id"])
      .execute();
    await db.schema
      .createIndex("concurrency_slots_task_run")
      .on("concurrency_slots")
      .columns(["task_run_id"])
      .execute();

    await stamps(
      db.schema
        .createTable("variables")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("value", "text", (c) => c.notNull())
        .addColumn("tags", "text", (c) => c.notNull()),
    ).execute();
    await stamps(
      db.schema
        .createTable("secrets")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("value", "text", (c) => c.notNull()),
    ).execute();
    await stamps(
      db.schema
        .createTable("automations")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("description", "text")
        .addColumn("enabled", "integer", (c) => c.notNull())
        .addColumn("trigger", "text", (c) => c.notNull())
        .addColumn("actions", "text", (c) => c.notNull()),
    ).execute();
  },
});

/** The cache lookup filters on key, state and end time together; a lone state index misleads SQLite. */
const taskRunCacheLookup: Migration = {
  async up(db: Db) {
    await db.schema.dropIndex("task_runs_cache").execute();
    await db.schema
      .createIndex("task_runs_cache")
      .on("task_runs")
      .columns(["cache_key", "state_type", "end_time"])
      .execute();
  },
};

/**
 * Automations: the events they react to, kept for a while (`processed` once automations have seen
 * them), what each automation remembers between events, the action runs they enqueue, and which
 * workers have been announced offline.
 */
const automations = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    await db.schema
      .createTable("events")
      .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) => c.primaryKey())
      .addColumn("id", "text", (c) => c.notNull().unique())
      .addColumn("occurred", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("resource_kind", "text", (c) => c.notNull())
      .addColumn("resource_id", "text", (c) => c.notNull())
      .addColumn("flow_run_id", "text")
      .addColumn("flow_run_name", "text")
      .addColumn("flow_name", "text")
      .addColumn("deployment_name", "text")
      .addColumn("work_pool_name", "text")
      .addColumn("tags", "text", (c) => c.notNull())
      .addColumn("payload", "text", (c) => c.notNull())
      .addColumn("processed", "integer", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("events_unprocessed").on("events").columns(["processed", "seq"]).execute();
    await db.schema.createIndex("events_occurred").on("events").columns(["occurred"]).execute();
    await db.schema.createIndex("events_resource").on("events").columns(["resource_id", "seq"]).execute();

    await db.schema
      .alterTable("automations")
      .addColumn("window_start", "text", (c) => c.notNull().defaultTo("1970-01-01T00:00:00.000Z"))
      .execute();
    await db.schema
      .alterTable("automations")
      .addColumn("window_count", "integer", (c) => c.notNull().defaultTo(0))
      .execute();

    await stamps(
      db.schema
        .createTable("action_runs")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("automation_id", "text", (c) =>
          c.notNull().references("automations.id").onDelete("cascade"),
        )
        .addColumn("automation_name", "text", (c) => c.notNull())
        .addColumn("action_index", "integer", (c) => c.notNull())
        .addColumn("action", "text", (c) => c.notNull())
        .addColumn("event_id", "text")
        .addColumn("context", "text", (c) => c.notNull())
        .addColumn("resolved", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("attempts", "text", (c) => c.notNull())
        .addColumn("next_attempt_at", "text"),
    ).execute();
    await db.schema
      .createIndex("action_runs_due")
      .on("action_runs")
      .columns(["status", "next_attempt_at"])
      .execute();
    await db.schema
      .createIndex("action_runs_automation")
      .on("action_runs")
      .columns(["automation_id", "created"])
      .execute();
    await db.schema.createIndex("action_runs_created").on("action_runs").columns(["created"]).execute();

    await db.schema.alterTable("workers").addColumn("offline_since", "text").execute();
  },
});

/**
 * The dashboard's queries on large stores. The overview's history counts runs by the hour they were
 * created and their state type from an index holding both. The runs list filtered by work pool reads
 * the pool's newest runs from an index; filtered by tag, from `flow_run_tags` (a run's tags one per
 * row, with its creation time), where it used to match every run's JSON list of tags with LIKE.
 */
const dashboardQueries = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    // The hour a run was created in, the first 13 characters of its ISO time ("2026-03-10T14"): the
    // history groups by it in the index's order, reading nothing else (queries must spell the
    // expression exactly so, with literals, for either database to use the index).
    await db.schema
      .createIndex("flow_runs_created_hour")
      .on("flow_runs")
      .expression(sql`substr(created, 1, 13), state_type, created`)
      .execute();
    await db.schema
      .createIndex("flow_runs_work_pool")
      .on("flow_runs")
      .columns(["work_pool_name", "created"])
      .execute();

    await db.schema
      .createTable("flow_run_tags")
      .addColumn("tag", "text", (c) => c.notNull())
      .addColumn("created", "text", (c) => c.notNull())
      .addColumn("flow_run_id", "text", (c) => c.notNull().references("flow_runs.id").onDelete("cascade"))
      .addPrimaryKeyConstraint("flow_run_tags_pk", ["tag", "created", "flow_run_id"])
      .execute();
    // A run's tags: whether it has one (the runs list narrowed by another filter first), and which
    // rows go when it is deleted.
    await db.schema
      .createIndex("flow_run_tags_run")
      .on("flow_run_tags")
      .columns(["flow_run_id", "tag"])
      .execute();
    // The runs there are already, their tags from the JSON lists.
    const tags =
      dialect === "postgres"
        ? sql`json_array_elements_text(r.tags::json) AS t(value)`
        : sql`json_each(r.tags) AS t`;
    await sql`INSERT INTO flow_run_tags (tag, created, flow_run_id)
      SELECT DISTINCT t.value, r.created, r.id FROM flow_runs AS r CROSS JOIN ${tags}`.execute(db);
    // PostgreSQL plans the tag filters by the new table's statistics: gathered now, not at autovacuum's
    // next pass.
    if (dialect === "postgres") await sql`ANALYZE flow_run_tags`.execute(db);
  },
});

const attemptsAndPoolCommands: Migration = {
  async up(db: Db) {
    // Which attempt of a run holds it: raised by every claim, carried by the attempt's proposals,
    // heartbeats and records, so a stale attempt (frozen past the heartbeat timeout, then woken) is refused.
    await db.schema
      .alterTable("flow_runs")
      .addColumn("attempt", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
    // Whether a deployment or run may replace the pool's command (a worker runs it): off unless the
    // pool's owner allows it.
    await db.schema
      .alterTable("work_pools")
      .addColumn("allow_command_override", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
  },
};

const serviceLeases: Migration = {
  async up(db: Db) {
    // Which server runs each background service now: with several servers on one database, each
    // service's pass is made by one of them, and another takes over when the lease runs out.
    await db.schema
      .createTable("service_leases")
      .addColumn("name", "text", (c) => c.primaryKey())
      .addColumn("holder", "text", (c) => c.notNull())
      .addColumn("expires", "text", (c) => c.notNull())
      .execute();
  },
};

/** The PostgreSQL channel the servers of one database hear each other's events on (see event-relay.ts). */
export const EVENT_CHANNEL = "baton_events";
/** NOTIFY's payload limit is 8,000 bytes; a stored event bigger than this goes by its id. */
export const MAX_NOTICE_BYTES = 7900;

const eventNotices = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    if (dialect !== "postgres") return;
    // A stored event is announced by the transaction that stores it, so the other servers hear the
    // events in the order their transactions committed: the changes of one run in the order they
    // were made, whichever servers made them. The keys are the stored event's, as the relay reads them.
    await sql
      .raw(
        `CREATE FUNCTION baton_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE notice text;
BEGIN
  notice := json_build_object('row', json_build_object(
    'seq', NEW.seq, 'id', NEW.id, 'occurred', NEW.occurred, 'name', NEW.name,
    'resourceKind', NEW.resource_kind, 'resourceId', NEW.resource_id, 'flowRunId', NEW.flow_run_id,
    'flowRunName', NEW.flow_run_name, 'flowName', NEW.flow_name, 'deploymentName', NEW.deployment_name,
    'workPoolName', NEW.work_pool_name, 'tags', NEW.tags, 'payload', NEW.payload,
    'processed', NEW.processed))::text;
  IF octet_length(notice) > ${MAX_NOTICE_BYTES} THEN
    notice := json_build_object('storedId', NEW.id)::text;
  END IF;
  PERFORM pg_notify('${EVENT_CHANNEL}', notice);
  RETURN NULL;
END $$`,
      )
      .execute(db);
    await sql`CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION baton_notify_event()`.execute(
      db,
    );
  },
});

const webhooks: Migration = {
  async up(db: Db) {
    // Incoming webhooks: a request to /hooks/<slug> becomes an event by the template; the token is
    // kept as its SHA-256 only.
    await stamps(
      db.schema
        .createTable("webhooks")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("slug", "text", (c) => c.notNull().unique())
        .addColumn("description", "text")
        .addColumn("enabled", "integer", (c) => c.notNull())
        .addColumn("template", "text", (c) => c.notNull())
        .addColumn("token_hash", "text"),
    ).execute();
  },
};

const runRetention: Migration = {
  async up(db: Db) {
    // Retention finds the oldest finished runs by their end, without reading every finished run.
    await db.schema.createIndex("flow_runs_end_time").on("flow_runs").columns(["end_time"]).execute();
  },
};

const scheduleParameters: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable("deployment_schedules")
      .addColumn("parameters", "text", (c) => c.notNull().defaultTo("{}"))
      .execute();
  },
};

const combinedTriggers: Migration = {
  async up(db: Db) {
    // What a compound or sequence trigger's event triggers matched so far (JSON; null for others).
    await db.schema.alterTable("automations").addColumn("trigger_state", "text").execute();
  },
};

const collisionStrategy: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable("deployments")
      .addColumn("collision_strategy", "text", (c) => c.notNull().defaultTo("ENQUEUE"))
      .execute();
  },
};

const deploymentRunRetention: Migration = {
  async up(db: Db) {
    await db.schema.alterTable("deployments").addColumn("run_retention_days", "real").execute();
  },
};

const artifacts: Migration = {
  async up(db: Db) {
    // A task run of a tracked flow may be recorded after its artifacts (in batches), so task_run_id
    // refers to nothing; the flow run's artifacts go with it, by its retention too.
    await stamps(
      db.schema
        .createTable("artifacts")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("key", "text")
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("description", "text")
        .addColumn("data", "text", (c) => c.notNull())
        .addColumn("flow_run_id", "text", (c) => c.references("flow_runs.id").onDelete("cascade"))
        .addColumn("task_run_id", "text"),
    ).execute();
    // A key's versions and its newest, newest first (created, then id, as two may share a millisecond).
    await db.schema.createIndex("artifacts_key").on("artifacts").columns(["key", "created", "id"]).execute();
    await db.schema.createIndex("artifacts_created").on("artifacts").columns(["created", "id"]).execute();
    await db.schema
      .createIndex("artifacts_flow_run")
      .on("artifacts")
      .columns(["flow_run_id", "created"])
      .execute();
    await db.schema.createIndex("artifacts_task_run").on("artifacts").columns(["task_run_id"]).execute();
  },
};

const deploymentPullSteps: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable("deployments")
      .addColumn("pull_steps", "text", (c) => c.notNull().defaultTo("[]"))
      .execute();
  },
};

const globalConcurrencyLimits: Migration = {
  async up(db: Db) {
    await stamps(
      db.schema
        .createTable("global_concurrency_limits")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("slot_limit", "integer", (c) => c.notNull())
        .addColumn("active", "integer", (c) => c.notNull())
        .addColumn("slot_decay_per_second", "double precision")
        // Slots of rate-limited grants as counted at decayed_at; they free themselves since.
        .addColumn("decaying_slots", "double precision", (c) => c.notNull().defaultTo(0))
        .addColumn("decayed_at", "text"),
    ).execute();
    await db.schema
      .createTable("global_concurrency_leases")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("limit_id", "text", (c) =>
        c.notNull().references("global_concurrency_limits.id").onDelete("cascade"),
      )
      .addColumn("slots", "integer", (c) => c.notNull())
      .addColumn("holder", "text")
      .addColumn("acquired", "text", (c) => c.notNull())
      .addColumn("expires", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("global_concurrency_leases_limit")
      .on("global_concurrency_leases")
      .columns(["limit_id", "expires"])
      .execute();
  },
};

const backgroundTaskRuns: Migration = {
  async up(db: Db) {
    // A task run with no flow run (task.delay()) is claimed by a task worker as a deployment run is by
    // a serve process: its arguments, when it is due, who holds it, its heartbeat and attempt.
    for (const [column, type, defaultTo] of [
      ["parameters", "text", "{}"],
      ["next_scheduled_start_time", "text", null],
      ["last_heartbeat", "text", null],
      ["worker_name", "text", null],
      ["attempt", "integer", 0],
    ] as const) {
      await db.schema
        .alterTable("task_runs")
        .addColumn(column, type, (c) => (defaultTo === null ? c : c.notNull().defaultTo(defaultTo)))
        .execute();
    }
    // Claims read the due runs of their task keys; only background runs are in this index.
    await db.schema
      .createIndex("task_runs_background")
      .on("task_runs")
      .columns(["task_key", "state_type", "next_scheduled_start_time"])
      .where(sql.ref("flow_run_id"), "is", null)
      .execute();
    // The dashboard's and the CLI's list of background runs, newest first.
    await db.schema
      .createIndex("task_runs_background_created")
      .on("task_runs")
      .columns(["created"])
      .where(sql.ref("flow_run_id"), "is", null)
      .execute();
  },
};

const flowRunInputs: Migration = {
  async up(db: Db) {
    await db.schema
      .alterTable("flow_runs")
      .addColumn("resume_count", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable("flow_run_inputs")
      .addColumn("flow_run_id", "text", (c) => c.notNull().references("flow_runs.id").onDelete("cascade"))
      .addColumn("key", "text", (c) => c.notNull())
      .addColumn("value", "text", (c) => c.notNull())
      .addColumn("created", "text", (c) => c.notNull())
      // One answer per pause: a second resume of the same pause is refused.
      .addPrimaryKeyConstraint("flow_run_inputs_pk", ["flow_run_id", "key"])
      .execute();
  },
};

const deploymentTriggers: Migration = {
  async up(db: Db) {
    // A deployment's triggers are automations it owns: replaced when it is deployed, gone with it.
    await db.schema
      .alterTable("automations")
      .addColumn("deployment_id", "text", (c) => c.references("deployments.id").onDelete("cascade"))
      .execute();
    await db.schema
      .createIndex("automations_deployment")
      .on("automations")
      .columns(["deployment_id"])
      .execute();
  },
};

const sharedGlobalLeases: Migration = {
  async up(db: Db) {
    // A lease may hold slots of several global limits, taken together: a row per limit, sharing the
    // lease's id, each knowing how many limits the lease holds, so that a renewal that finds one gone
    // (its limit reset or deleted) ends the rest. Every lease until now held one limit, its row's id.
    await db.schema.alterTable("global_concurrency_leases").addColumn("lease_id", "text").execute();
    await db.schema
      .alterTable("global_concurrency_leases")
      .addColumn("lease_limits", "integer", (c) => c.notNull().defaultTo(1))
      .execute();
    await sql`UPDATE global_concurrency_leases SET lease_id = id`.execute(db);
    await db.schema
      .createIndex("global_concurrency_leases_lease")
      .on("global_concurrency_leases")
      .column("lease_id")
      .execute();
  },
};

/**
 * Indexes that keep a claim pass's work independent of how many runs wait: a queue's and a served
 * deployment's due runs in the order a claim takes them (the id breaks ties, so the first few are read
 * and no sort of them all is needed), and the runs a process holds (claims.ts heldByProcess, spelled
 * the same here), few at any time, by pool and by deployment, instead of every waiting run of either.
 */
const claimIndexes: Migration = {
  async up(db: Db) {
    await db.schema.dropIndex("flow_runs_queue_schedule").execute();
    for (const [name, column] of [
      ["flow_runs_queue_due", "work_queue_id"],
      ["flow_runs_deployment_due", "deployment_id"],
    ] as const) {
      await db.schema
        .createIndex(name)
        .on("flow_runs")
        .columns([column, "state_type", "next_scheduled_start_time", "id"])
        .execute();
    }
    const held = sql<boolean>`state_type IN ('PENDING', 'RUNNING', 'CANCELLING') OR (state_type IN ('SCHEDULED', 'PAUSED') AND last_heartbeat IS NOT NULL)`;
    for (const column of ["work_pool_name", "deployment_id"]) {
      await db.schema
        .createIndex(`flow_runs_held_${column}`)
        .on("flow_runs")
        .column(column)
        .where(held)
        .execute();
    }
  },
};

/**
 * The claim that took a run, named by its claimer: a claim sent again after its answer was lost (the
 * server died or the connection dropped after the COMMIT) is answered with the runs it took then.
 */
const claimIds: Migration = {
  async up(db: Db) {
    for (const table of ["flow_runs", "task_runs"]) {
      await db.schema.alterTable(table).addColumn("claim_id", "text").execute();
    }
  },
};

/** Every migration, in order. Add new ones at the end; never edit one that has shipped. */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  const migrations: Record<string, Migration> = {
    "0001_initial": initial(dialect),
    "0002_task_run_cache_lookup": taskRunCacheLookup,
    "0003_automations": automations(dialect),
    "0004_dashboard_queries": dashboardQueries(dialect),
    "0005_attempts_and_pool_commands": attemptsAndPoolCommands,
    "0006_service_leases": serviceLeases,
    "0007_event_notices": eventNotices(dialect),
    "0008_webhooks": webhooks,
    "0009_run_retention": runRetention,
    "0010_schedule_parameters": scheduleParameters,
    "0011_combined_triggers": combinedTriggers,
    "0012_collision_strategy": collisionStrategy,
    "0013_deployment_run_retention": deploymentRunRetention,
    "0014_artifacts": artifacts,
    "0015_deployment_pull_steps": deploymentPullSteps,
    "0016_global_concurrency_limits": globalConcurrencyLimits,
    "0017_background_task_runs": backgroundTaskRuns,
    "0018_flow_run_inputs": flowRunInputs,
    "0019_deployment_triggers": deploymentTriggers,
    "0020_shared_global_leases": sharedGlobalLeases,
    "0021_claim_indexes": claimIndexes,
    "0022_claim_ids": claimIds,
  };
  return { getMigrations: async () => migrations };
}
