import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, type BatonEvent, type FlowRun, type ScheduleSpec, type State } from "@baton/core";
import type { BatonClient } from "@baton/client";
import {
  DIALECTS,
  startTestServer,
  throwawayDatabase,
  type TestDialect,
  type TestServer,
} from "../../../test/helpers.js";
import { checkSchedule, nextRunTimes } from "../src/services/schedules.js";
import { schedulerService } from "../src/services/scheduler.js";

const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const isos = (dates: Date[]) => dates.map((date) => date.toISOString());

/** Awaits the first error a call throws, typed. */
async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** Records a server's events of the given kinds from now on; `until` waits for a condition on them. */
async function recordEvents(client: BatonClient, names: string[]) {
  const controller = new AbortController();
  const events: BatonEvent[] = [];
  let waiters: { check: () => boolean; resolve: () => void }[] = [];
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const stream = client.events({ names, signal: controller.signal, onOpen: opened }, (event) => {
    events.push(event);
    waiters = waiters.filter((waiter) => {
      if (!waiter.check()) return true;
      waiter.resolve();
      return false;
    });
  });
  await Promise.race([open, stream]);
  return {
    events,
    /** Resolves once `check` holds for the events seen so far (the test's timeout bounds the wait). */
    until: (check: (events: BatonEvent[]) => boolean) =>
      new Promise<void>((resolve) => {
        if (check(events)) resolve();
        else waiters.push({ check: () => check(events), resolve });
      }),
    close: async () => {
      controller.abort();
      await stream;
    },
  };
}

/** The runs of a deployment that the server announced it created. */
const createdFor = (events: BatonEvent[], deploymentId: string): FlowRun[] =>
  events
    .filter((event) => event.name === "flow-run.created")
    .map((event) => event.payload.flowRun as FlowRun)
    .filter((run) => run.deploymentId === deploymentId);

const deletedIds = (events: BatonEvent[]) =>
  new Set(events.filter((event) => event.name === "flow-run.deleted").map((event) => event.flowRunId));

/** Every run of a deployment, by expected start time. */
async function runsOf(client: BatonClient, deploymentId: string): Promise<FlowRun[]> {
  const page = await client.api.listFlowRuns({ query: { deploymentId, limit: 1000 } });
  return page.items.sort((a, b) => (a.expectedStartTime ?? "").localeCompare(b.expectedStartTime ?? ""));
}

/** When the runs were scheduled for (a cancelled run's state no longer says). */
const expectedTimes = (runs: FlowRun[]) => runs.map((run) => run.expectedStartTime);

/** A whole second a few minutes from now: interval schedules anchored there have known times. */
const anchorIn = (minutes: number) => Math.ceil((Date.now() + minutes * MINUTE) / 1000) * 1000;

describe("nextRunTimes and checkSchedule", () => {
  const window = (after: string, until: string, max = 100) => ({
    after: new Date(after),
    until: new Date(until),
    max,
  });

  it("counts interval times from the anchor, before it too, strictly after `after`", () => {
    const spec: ScheduleSpec = { interval: 3600, timezone: "UTC" };
    expect(isos(nextRunTimes(spec, window("2025-06-01T10:00:00Z", "2025-06-01T13:00:00Z")))).toEqual([
      "2025-06-01T11:00:00.000Z",
      "2025-06-01T12:00:00.000Z",
      "2025-06-01T13:00:00.000Z",
    ]);
    const anchored: ScheduleSpec = {
      interval: 900,
      anchorDate: "2025-06-01T10:05:00+02:00",
      timezone: "UTC",
    };
    expect(isos(nextRunTimes(anchored, window("2025-06-01T07:59:00Z", "2025-06-01T09:00:00Z", 3)))).toEqual([
      "2025-06-01T08:05:00.000Z",
      "2025-06-01T08:20:00.000Z",
      "2025-06-01T08:35:00.000Z",
    ]);
  });

  it("reads a cron expression in its time zone, across a DST change", () => {
    const nineInNewYork: ScheduleSpec = { cron: "0 9 * * *", timezone: "America/New_York" };
    // Clocks went forward on Sunday 2025-03-09: 9:00 is 14:00 UTC before, 13:00 UTC after.
    expect(isos(nextRunTimes(nineInNewYork, window("2025-03-07T15:00:00Z", "2025-03-11T00:00:00Z")))).toEqual(
      ["2025-03-08T14:00:00.000Z", "2025-03-09T13:00:00.000Z", "2025-03-10T13:00:00.000Z"],
    );
    // 2:30 did not exist that Sunday: croner runs at the first time after the gap.
    const inTheGap: ScheduleSpec = { cron: "30 2 * * *", timezone: "America/New_York" };
    expect(isos(nextRunTimes(inTheGap, window("2025-03-08T12:00:00Z", "2025-03-11T00:00:00Z")))).toEqual([
      "2025-03-09T07:00:00.000Z",
      "2025-03-10T06:30:00.000Z",
    ]);
  });

  it("reads an RRULE in the schedule's time zone, or its DTSTART's", () => {
    // Europe moved to summer time on Sunday 2025-03-30: Monday 9:00 is 08:00 UTC, then 07:00 UTC.
    const mondays: ScheduleSpec = {
      rrule: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
      timezone: "Europe/Paris",
    };
    expect(isos(nextRunTimes(mondays, window("2025-03-20T00:00:00Z", "2025-04-08T00:00:00Z")))).toEqual([
      "2025-03-24T08:00:00.000Z",
      "2025-03-31T07:00:00.000Z",
      "2025-04-07T07:00:00.000Z",
    ]);
    // A DTSTART with its own time zone and a COUNT: three runs, then none.
    const three: ScheduleSpec = {
      rrule: "DTSTART;TZID=Asia/Tokyo:20250101T080000\nRRULE:FREQ=DAILY;COUNT=3",
      timezone: "UTC",
    };
    expect(isos(nextRunTimes(three, window("2024-12-01T00:00:00Z", "2025-12-01T00:00:00Z")))).toEqual([
      "2024-12-31T23:00:00.000Z",
      "2025-01-01T23:00:00.000Z",
      "2025-01-02T23:00:00.000Z",
    ]);
  });

  it("stops at `max` and at `until`", () => {
    const everyMinute: ScheduleSpec = { cron: "* * * * *", timezone: "UTC" };
    expect(nextRunTimes(everyMinute, window("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", 5))).toHaveLength(
      5,
    );
    expect(nextRunTimes(everyMinute, window("2025-01-01T00:00:00Z", "2025-01-01T00:02:30Z"))).toHaveLength(2);
  });

  it("explains what is wrong with a schedule", () => {
    expect(checkSchedule({ cron: "0 9 * * *", timezone: "Europe/Paris" })).toBeUndefined();
    expect(checkSchedule({ interval: 60, timezone: "UTC" })).toBeUndefined();
    expect(checkSchedule({ cron: "61 * * * *", timezone: "UTC" })).toBe(
      "invalid cron expression '61 * * * *': Invalid value for minute: 61",
    );
    expect(checkSchedule({ cron: "0 9 * * *", timezone: "Mars/Olympus" })).toContain(
      "unknown time zone 'Mars/Olympus'",
    );
    expect(checkSchedule({ rrule: "FREQ=FORTNIGHTLY", timezone: "UTC" })).toBe(
      "invalid rrule 'FREQ=FORTNIGHTLY': Invalid FREQ value: FORTNIGHTLY",
    );
  });
});

describe.each(DIALECTS)("the scheduler and late runs on %s", (dialect: TestDialect) => {
  const settings = { serviceLoopSeconds: 0.1 };
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, settings);
  });
  afterAll(async () => {
    await server.stop();
  });
  const api = () => server.client.api;

  it("creates a deployment's runs ahead: at least 3 and an hour ahead, at the schedule's times", async () => {
    const recorder = await recordEvents(server.client, ["flow-run.created"]);
    const anchor = anchorIn(5);
    const deployment = await api().createDeployment({
      body: {
        flowName: "reports",
        name: "every-ten-minutes",
        parameters: { region: "eu" },
        schedules: [
          // 5, 15, …, 65 minutes from now: seven runs to reach an hour ahead.
          { schedule: { interval: 600, anchorDate: iso(anchor) } },
          // Daily: the three runs the minimum asks for.
          { schedule: { interval: 86_400, anchorDate: iso(anchor + 2 * MINUTE) } },
          { schedule: { interval: 60 }, active: false },
        ],
      },
    });
    await recorder.until((events) => createdFor(events, deployment.id).length >= 10);
    await recorder.close();

    const runs = await runsOf(server.client, deployment.id);
    const expected = [
      ...[0, 1, 2, 3, 4, 5, 6].map((k) => iso(anchor + k * 10 * MINUTE)),
      ...[0, 1, 2].map((k) => iso(anchor + 2 * MINUTE + k * 86_400_000)),
    ].sort();
    expect(expectedTimes(runs)).toEqual(expected);
    for (const run of runs) {
      expect(run.state).toMatchObject({ type: "SCHEDULED", name: "Scheduled" });
      expect(run.expectedStartTime).toBe(run.state?.scheduledTime);
      expect(run.parameters).toEqual({ region: "eu" });
      expect(run.idempotencyKey?.startsWith(`scheduled:${deployment.id}:`)).toBe(true);
      expect(run.idempotencyKey?.endsWith(`:${run.state?.scheduledTime}`)).toBe(true);
    }
  });

  it("reads a cron schedule in its time zone", async () => {
    const recorder = await recordEvents(server.client, ["flow-run.created"]);
    const deployment = await api().createDeployment({
      body: {
        flowName: "reports",
        name: "nine-in-new-york",
        schedules: [{ schedule: { cron: "0 9 * * *", timezone: "America/New_York" } }],
      },
    });
    await recorder.until((events) => createdFor(events, deployment.id).length >= 3);
    await recorder.close();

    const times = expectedTimes(await runsOf(server.client, deployment.id)).map((time) => Date.parse(time!));
    // Three runs, or four if 9:00 in New York passed since the first pass.
    expect(times.length).toBeGreaterThanOrEqual(3);
    const newYork = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    expect(new Set(times.map((time) => newYork.format(time)))).toEqual(new Set(["09:00"]));
    // A day apart: 23 or 25 hours across a change of daylight saving time.
    for (const [index, time] of times.slice(1).entries()) {
      expect([23, 24, 25]).toContain((time - times[index]!) / (60 * MINUTE));
    }
  });

  it("removes the future runs of a changed schedule and of a paused or deleted deployment", async () => {
    const recorder = await recordEvents(server.client, ["flow-run.created", "flow-run.deleted"]);
    const anchor = anchorIn(5);
    const deployment = await api().createDeployment({
      body: {
        flowName: "reports",
        name: "changing",
        schedules: [{ schedule: { interval: 600, anchorDate: iso(anchor) } }],
      },
    });
    await recorder.until((events) => createdFor(events, deployment.id).length >= 7);
    const first = await runsOf(server.client, deployment.id);
    expect(first).toHaveLength(7);

    // A new schedule: the seven runs go, five new ones (5, 20, 35, 50 and 65 minutes ahead) come.
    await api().updateDeployment({
      params: { id: deployment.id },
      body: { schedules: [{ schedule: { interval: 900, anchorDate: iso(anchor) } }] },
    });
    await recorder.until(
      (events) =>
        first.every((run) => deletedIds(events).has(run.id)) &&
        createdFor(events, deployment.id).length >= 12,
    );
    const second = await runsOf(server.client, deployment.id);
    expect(expectedTimes(second)).toEqual([0, 1, 2, 3, 4].map((k) => iso(anchor + k * 15 * MINUTE)));

    // A cancelled run and a run made by hand are not the scheduler's to remove.
    const cancelled = second[0]!;
    await api().setFlowRunState({ params: { id: cancelled.id }, body: { state: { type: "CANCELLING" } } });
    const manual = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { state: { type: "SCHEDULED", scheduledTime: iso(anchor) } },
    });

    await api().updateDeployment({ params: { id: deployment.id }, body: { paused: true } });
    await recorder.until((events) => second.slice(1).every((run) => deletedIds(events).has(run.id)));
    expect((await runsOf(server.client, deployment.id)).map((run) => run.id).sort()).toEqual(
      [cancelled.id, manual.id].sort(),
    );

    // Resumed: the same runs again, but the cancelled one is not made anew.
    await api().updateDeployment({ params: { id: deployment.id }, body: { paused: false } });
    await recorder.until((events) => createdFor(events, deployment.id).length >= 12 + 1 + 4);
    const resumed = (await runsOf(server.client, deployment.id)).filter((run) => run.id !== manual.id);
    expect(expectedTimes(resumed)).toEqual(expectedTimes(second));
    expect(resumed[0]?.id).toBe(cancelled.id);

    await api().deleteDeployment({ params: { id: deployment.id } });
    await recorder.until((events) => resumed.slice(1).every((run) => deletedIds(events).has(run.id)));
    await recorder.close();
    expect((await runsOf(server.client, deployment.id)).map((run) => run.id).sort()).toEqual(
      [cancelled.id, manual.id].sort(),
    );
  });

  it("gives each schedule's runs its own parameters over the deployment's, and pauses, changes and removes one schedule", async () => {
    const recorder = await recordEvents(server.client, ["flow-run.created", "flow-run.deleted"]);
    const anchor = anchorIn(5);
    const deployment = await api().createDeployment({
      body: {
        flowName: "reports",
        name: "per-schedule",
        parameters: { region: "eu", format: "pdf" },
        parameterSchema: {
          type: "object",
          properties: { region: { type: "string" }, format: { enum: ["pdf", "csv"] } },
          required: ["region"],
        },
      },
    });
    // Hourly in CSV, and daily with the defaults.
    const hourly = await api().createDeploymentSchedule({
      params: { id: deployment.id },
      body: { schedule: { interval: 3600, anchorDate: iso(anchor) }, parameters: { format: "csv" } },
    });
    expect(hourly).toMatchObject({ active: true, parameters: { format: "csv" } });
    const daily = await api().createDeploymentSchedule({
      params: { id: deployment.id },
      body: { schedule: { interval: 86_400, anchorDate: iso(anchor + MINUTE) } },
    });
    await recorder.until((events) => createdFor(events, deployment.id).length >= 6);
    const runs = await runsOf(server.client, deployment.id);
    const at = (time: number) => runs.find((run) => run.expectedStartTime === iso(time))!;
    expect(at(anchor).parameters).toEqual({ region: "eu", format: "csv" });
    expect(at(anchor + MINUTE).parameters).toEqual({ region: "eu", format: "pdf" });
    expect((await api().readDeployment({ params: { id: deployment.id } })).schedules).toEqual([
      hourly,
      daily,
    ]);

    // Parameters that do not fit the schema are refused, naming the schedule and the field; nothing changes.
    const wrong = await rejection(
      api().updateDeploymentSchedule({
        params: { id: deployment.id, scheduleId: hourly.id },
        body: { parameters: { format: "docx" } },
      }),
    );
    expect(wrong.code).toBe("invalid_argument");
    expect(wrong.message).toContain(`the runs of schedule ${hourly.id} (every 3600 s UTC)`);
    expect(wrong.message).toContain("format");
    expect((await api().readDeployment({ params: { id: deployment.id } })).schedules[0]).toEqual(hourly);

    // New parameters: the hourly runs to come are made again with them.
    const hourlyRuns = runs.filter((run) => run.parameters.format === "csv");
    await api().updateDeploymentSchedule({
      params: { id: deployment.id, scheduleId: hourly.id },
      body: { parameters: { format: "csv", region: "us" } },
    });
    await recorder.until((events) => hourlyRuns.every((run) => deletedIds(events).has(run.id)));
    await recorder.until((events) =>
      createdFor(events, deployment.id).some((run) => run.parameters.region === "us"),
    );
    expect(at(anchor + MINUTE).id).toBe(
      (await runsOf(server.client, deployment.id)).find(
        (run) => run.expectedStartTime === iso(anchor + MINUTE),
      )?.id,
    );

    // Paused, then removed: the daily runs go, the hourly ones stay.
    const dailyRuns = (await runsOf(server.client, deployment.id)).filter(
      (run) => run.parameters.format === "pdf",
    );
    const paused = await api().updateDeploymentSchedule({
      params: { id: deployment.id, scheduleId: daily.id },
      body: { active: false },
    });
    expect(paused.active).toBe(false);
    await recorder.until((events) => dailyRuns.every((run) => deletedIds(events).has(run.id)));
    await api().deleteDeploymentSchedule({ params: { id: deployment.id, scheduleId: daily.id } });
    const gone = await rejection(
      api().deleteDeploymentSchedule({ params: { id: deployment.id, scheduleId: daily.id } }),
    );
    expect(gone.code).toBe("not_found");
    await recorder.close();
    const left = await runsOf(server.client, deployment.id);
    expect(left.length).toBeGreaterThanOrEqual(3);
    expect(left.every((run) => run.parameters.region === "us" && run.parameters.format === "csv")).toBe(true);
  });

  it("refuses an invalid cron expression, RRULE or time zone, naming the schedule, and writes nothing", async () => {
    const bad = await rejection(
      api().createDeployment({
        body: {
          flowName: "never-made",
          name: "bad",
          schedules: [{ schedule: { interval: 60 } }, { schedule: { cron: "0 25 * * *" } }],
        },
      }),
    );
    expect(bad.code).toBe("invalid_argument");
    expect(bad.httpStatus).toBe(400);
    expect(bad.message).toBe("schedule 2: invalid cron expression '0 25 * * *': Invalid value for hour: 25");
    expect((await rejection(api().readFlowByName({ params: { name: "never-made" } }))).code).toBe(
      "not_found",
    );

    const zone = await rejection(
      api().createDeployment({
        body: {
          flowName: "reports",
          name: "bad-zone",
          schedules: [{ schedule: { cron: "0 9 * * *", timezone: "Europe/Atlantis" } }],
        },
      }),
    );
    expect(zone.message).toContain("schedule 1: unknown time zone 'Europe/Atlantis'");

    const deployment = await api().createDeployment({ body: { flowName: "reports", name: "later-bad" } });
    const rrule = await rejection(
      api().updateDeployment({
        params: { id: deployment.id },
        body: { paused: true, schedules: [{ schedule: { rrule: "FREQ=SOMETIMES" } }] },
      }),
    );
    expect(rrule.message).toBe("schedule 1: invalid rrule 'FREQ=SOMETIMES': Invalid FREQ value: SOMETIMES");
    expect(await api().readDeployment({ params: { id: deployment.id } })).toMatchObject({
      paused: false,
      schedules: [],
    });
  });

  it("marks Late a run not started after its time, which a worker still claims", async () => {
    const deployment = await api().createDeployment({ body: { flowName: "reports", name: "served" } });
    const scheduledTime = iso(Date.now() - 60 * MINUTE);
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { state: { type: "SCHEDULED", scheduledTime } },
    });
    const late = await stateOf(server.client, run.id, (state) => state.name === "Late");
    expect(late).toMatchObject({ type: "SCHEDULED", name: "Late", scheduledTime });

    const after = await api().readFlowRun({ params: { id: run.id } });
    expect(after.expectedStartTime).toBe(scheduledTime);
    const { runs } = await api().claimFlowRuns({
      body: { workerName: "serve-1", deploymentIds: [deployment.id], limit: 1, waitSeconds: 0 },
    });
    expect(runs.map((claimed) => claimed.flowRun.id)).toEqual([run.id]);
    expect(runs[0]?.flowRun.state?.type).toBe("PENDING");
    const names = (await api().listFlowRunStates({ params: { id: run.id } })).map((state) => state.name);
    expect(names).toEqual(["Scheduled", "Late", "Pending"]);
  });

  it("creates no run twice when the server restarts on the same database", async () => {
    const database = await throwawayDatabase(dialect);
    try {
      const first = await startTestServer(dialect, settings, database);
      const recorder = await recordEvents(first.client, ["flow-run.created"]);
      const deployment = await first.client.api.createDeployment({
        body: {
          flowName: "reports",
          name: "restarted",
          schedules: [{ schedule: { interval: 600, anchorDate: iso(anchorIn(5)) } }],
        },
      });
      await recorder.until((events) => createdFor(events, deployment.id).length >= 7);
      await recorder.close();
      const before = await runsOf(first.client, deployment.id);
      await first.stop();

      const second = await startTestServer(dialect, settings, database);
      try {
        // A whole pass of the new server's scheduler, alongside the one it started with.
        await schedulerService(second.ctx, second.settings).runOnce(new Date());
        const after = await runsOf(second.client, deployment.id);
        expect(after.map((run) => run.id)).toEqual(before.map((run) => run.id));
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
    }
  });
});

/** The first state of the flow run that matches, whether it is already in its history or comes later. */
async function stateOf(client: BatonClient, flowRunId: string, matches: (state: State) => boolean) {
  const recorder = await recordEvents(client, ["flow-run.state-changed"]);
  const states = (events: BatonEvent[]) =>
    events.filter((event) => event.flowRunId === flowRunId).map((event) => event.payload.state as State);
  // Subscribed first, so what the stream misses is already in the history.
  const history = await client.api.listFlowRunStates({ params: { id: flowRunId } });
  try {
    await recorder.until((events) => [...history, ...states(events)].some(matches));
    return [...history, ...states(recorder.events)].find(matches)!;
  } finally {
    await recorder.close();
  }
}

describe.runIf(DIALECTS.includes("postgres"))("two servers on one PostgreSQL database", () => {
  it("create each scheduled run once, their schedulers running at the same time", async () => {
    const database = await throwawayDatabase("postgres");
    const servers = [
      await startTestServer("postgres", { serviceLoopSeconds: 0.1 }, database),
      await startTestServer("postgres", { serviceLoopSeconds: 0.1 }, database),
    ];
    try {
      const recorders = await Promise.all(
        servers.map((server) => recordEvents(server.client, ["flow-run.created"])),
      );
      const deployment = await servers[0]!.client.api.createDeployment({
        body: {
          flowName: "reports",
          name: "shared",
          // Every 30 s: the 100 runs at most, 50 minutes ahead.
          schedules: [{ schedule: { interval: 30, anchorDate: iso(anchorIn(1)) } }],
        },
      });
      const created = () => recorders.flatMap((recorder) => createdFor(recorder.events, deployment.id));
      // The last run may be announced by either server.
      await Promise.race(recorders.map((recorder) => recorder.until(() => created().length >= 100)));
      // Both passes at once, on each server, racing for the same runs: neither fails, neither adds one.
      await Promise.all(
        servers.map((server) => schedulerService(server.ctx, server.settings).runOnce(new Date())),
      );
      await Promise.all(recorders.map((recorder) => recorder.close()));

      // One run every 30 s, none twice. (A 101st comes when the first run's time is passed.)
      const times = expectedTimes(await runsOf(servers[1]!.client, deployment.id)).map((time) =>
        Date.parse(time!),
      );
      expect(times.length).toBeGreaterThanOrEqual(100);
      expect(times.slice(1).map((time, index) => time - times[index]!)).toEqual(
        times.slice(1).map(() => 30_000),
      );
    } finally {
      for (const server of servers) await server.stop();
      await database.drop();
    }
  });

  it("race on the same missing runs without error or duplicate", async () => {
    const database = await throwawayDatabase("postgres");
    // No service loops: the two passes below are the only schedulers, started together.
    const servers = [
      await startTestServer("postgres", { services: false }, database),
      await startTestServer("postgres", { services: false }, database),
    ];
    try {
      const deployment = await servers[0]!.client.api.createDeployment({
        body: {
          flowName: "reports",
          name: "raced",
          schedules: [{ schedule: { interval: 30, anchorDate: iso(anchorIn(1)) } }],
        },
      });
      const now = new Date();
      await Promise.all(servers.map((server) => schedulerService(server.ctx, server.settings).runOnce(now)));
      const runs = await runsOf(servers[0]!.client, deployment.id);
      expect(runs).toHaveLength(100);
      expect(new Set(runs.map((run) => run.idempotencyKey)).size).toBe(100);
      // A run refused for its key left nothing behind: its row, first state and event went in as one.
      const { kysely } = servers[0]!.db;
      const states = await kysely
        .selectFrom("states")
        .select("flowRunId")
        .where("flowRunId", "is not", null)
        .execute();
      const events = await kysely
        .selectFrom("events")
        .select("resourceId")
        .where("name", "=", "flow-run.state-changed")
        .execute();
      const ids = runs.map((run) => run.id).sort();
      expect(states.map((row) => row.flowRunId).sort()).toEqual(ids);
      expect(events.map((row) => row.resourceId).sort()).toEqual(ids);
    } finally {
      for (const server of servers) await server.stop();
      await database.drop();
    }
  });
});
