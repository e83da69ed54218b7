/**
 * Compound and sequence triggers: an automation that fires when all, any or a number of its event
 * triggers matched within a window, or when they matched in their order. Each fires once, on the
 * event that completes it and not before, remembers what matched across a restart, and bad
 * triggers are refused with a 400 naming the field.
 *
 * "Not before" is shown without waiting: a plain automation on the same events ("the witness")
 * fires in the transaction that matched the event against every automation, so once the witness
 * has fired for an event, the combined trigger has seen it too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId, type ActionRun, type AutomationCreate } from "@baton/core";
import {
  DIALECTS,
  startTestServer,
  TEST_POSTGRES_URL,
  throwawayDatabase,
  type TestDialect,
  type TestServer,
} from "../../../test/helpers.js";
import { actionRunsOf } from "../../../test/runs.js";

const FAST = { serviceLoopSeconds: 0.1, actionRetrySeconds: 0.05 } as const;

/** The action runs of an automation, oldest first, once there are `count`. */
const actionRuns = (server: TestServer, automationId: string, count: number) =>
  actionRunsOf(server.client, automationId, (runs) => runs.length >= count);

/** An automation of `trigger` that records the name of the event that fired it. */
const sink = (name: string, trigger: unknown): AutomationCreate => ({
  name,
  trigger: trigger as AutomationCreate["trigger"],
  actions: [{ type: "test-sink", text: "{{ event.name }} {{ event.payload.n }}" }],
});

/** Fires on every one of `events`: once it fired n times, every automation has seen n of them. */
const witness = (name: string, events: string[]) => sink(`${name} witness`, { events });

describe.each(DIALECTS)("compound and sequence triggers on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, FAST);
  });
  afterAll(async () => {
    await server?.stop();
  });
  const api = () => server.client.api;
  const emit = (event: string, n: number) => api().createEvent({ body: { event, payload: { n } } });
  const texts = (runs: ActionRun[]) => runs.map((run) => run.resolved.text);
  const runsNow = async (id: string) =>
    texts((await api().listActionRuns({ query: { automationId: id } })).items.reverse());

  it("fires an 'all' of two custom events when the second arrives, not on the first, then starts afresh", async () => {
    const all = await api().createAutomation({
      body: sink("all of paid and shipped", {
        type: "compound",
        require: "all",
        triggers: [{ events: ["all.paid"] }, { events: ["all.shipped"] }],
        within: 3600,
      }),
    });
    const seen = await api().createAutomation({ body: witness("all", ["all.paid", "all.shipped"]) });
    await emit("all.paid", 1);
    await actionRuns(server, seen.id, 1);
    expect(await runsNow(all.id)).toEqual([]);
    await emit("all.paid", 2);
    await actionRuns(server, seen.id, 2);
    expect(await runsNow(all.id)).toEqual([]);
    const shipped = await emit("all.shipped", 3);
    const [fired] = await actionRuns(server, all.id, 1);
    expect(fired).toMatchObject({ eventId: shipped.id, resolved: { text: "all.shipped 3" } });
    // Firing emptied it: another shipped alone does not fire; a paid after it does.
    await emit("all.shipped", 4);
    await actionRuns(server, seen.id, 4);
    expect(await runsNow(all.id)).toEqual(["all.shipped 3"]);
    await emit("all.paid", 5);
    expect(texts(await actionRuns(server, all.id, 2))).toEqual(["all.shipped 3", "all.paid 5"]);
    await actionRuns(server, seen.id, 5);
    expect(await runsNow(all.id)).toHaveLength(2);
  });

  it("fires an 'any' on each match and a number once that many of its triggers matched", async () => {
    const any = await api().createAutomation({
      body: sink("any", {
        type: "compound",
        require: "any",
        triggers: [{ events: ["any.a"] }, { events: ["any.b"] }],
        within: 60,
      }),
    });
    const two = await api().createAutomation({
      body: sink("two of three", {
        type: "compound",
        require: 2,
        triggers: [{ events: ["any.a"] }, { events: ["any.b"] }, { events: ["any.c"] }],
        within: 60,
      }),
    });
    const seen = await api().createAutomation({ body: witness("any", ["any.a", "any.b", "any.c"]) });
    await emit("any.c", 1);
    await emit("any.c", 2);
    await actionRuns(server, seen.id, 2);
    expect(await runsNow(two.id)).toEqual([]);
    await emit("any.a", 3);
    await emit("any.b", 4);
    await actionRuns(server, seen.id, 4);
    expect(await runsNow(any.id)).toEqual(["any.a 3", "any.b 4"]);
    expect(await runsNow(two.id)).toEqual(["any.a 3"]);
  });

  it("fires a sequence on A then B, never on B then A", async () => {
    const sequence = await api().createAutomation({
      body: sink("a then b", {
        type: "sequence",
        triggers: [{ events: ["seq.a"] }, { events: ["seq.b"] }],
        within: 3600,
      }),
    });
    const seen = await api().createAutomation({ body: witness("seq", ["seq.a", "seq.b"]) });
    await emit("seq.b", 1);
    await emit("seq.a", 2);
    await actionRuns(server, seen.id, 2);
    expect(await runsNow(sequence.id)).toEqual([]);
    const b = await emit("seq.b", 3);
    const [fired] = await actionRuns(server, sequence.id, 1);
    expect(fired).toMatchObject({ eventId: b.id, resolved: { text: "seq.b 3" } });
    await emit("seq.b", 4);
    await actionRuns(server, seen.id, 4);
    expect(await runsNow(sequence.id)).toEqual(["seq.b 3"]);
  });

  it("fires neither when the first event is older than the window", async () => {
    const within = { within: 60, triggers: [{ events: ["late.a"] }, { events: ["late.b"] }] };
    const all = await api().createAutomation({
      body: sink("late all", { type: "compound", require: "all", ...within }),
    });
    const sequence = await api().createAutomation({
      body: sink("late sequence", { type: "sequence", ...within }),
    });
    const seen = await api().createAutomation({ body: witness("late", ["late.a", "late.b"]) });
    // An event that happened two minutes ago, as a slow sender would deliver it.
    await server.ctx.db.kysely
      .insertInto("events")
      .values({
        id: newId(),
        occurred: new Date(Date.now() - 120_000).toISOString(),
        name: "late.a",
        resourceKind: "event",
        resourceId: "late.a",
        flowRunId: null,
        flowRunName: null,
        flowName: null,
        deploymentName: null,
        workPoolName: null,
        tags: "[]",
        payload: JSON.stringify({ n: 1 }),
        processed: 0,
      })
      .execute();
    await actionRuns(server, seen.id, 1);
    await emit("late.b", 2);
    await actionRuns(server, seen.id, 2);
    expect(await runsNow(all.id)).toEqual([]);
    expect(await runsNow(sequence.id)).toEqual([]);
  });

  it("starts afresh when its trigger changes or it is paused", async () => {
    const trigger = {
      type: "compound",
      require: "all",
      triggers: [{ events: ["fresh.a"] }, { events: ["fresh.b"] }],
      within: 3600,
    };
    const all = await api().createAutomation({ body: sink("fresh", trigger) });
    const seen = await api().createAutomation({ body: witness("fresh", ["fresh.a", "fresh.b"]) });
    await emit("fresh.a", 1);
    await actionRuns(server, seen.id, 1);
    await api().updateAutomation({ params: { id: all.id }, body: { enabled: false } });
    await api().updateAutomation({ params: { id: all.id }, body: { enabled: true } });
    await emit("fresh.b", 2);
    await actionRuns(server, seen.id, 2);
    expect(await runsNow(all.id)).toEqual([]);
    // A rename keeps what it matched.
    await api().updateAutomation({ params: { id: all.id }, body: { name: "fresh, renamed" } });
    await emit("fresh.a", 3);
    expect(texts(await actionRuns(server, all.id, 1))).toEqual(["fresh.a 3"]);
  });

  it("describes compound and sequence triggers in the OpenAPI document", async () => {
    const response = await fetch(`${server.url}/api/openapi.json`);
    expect(response.status).toBe(200);
    const document = JSON.stringify(await response.json());
    expect(document).toContain('"compound"');
    expect(document).toContain('"sequence"');
  });

  it("refuses a combined trigger that cannot work with a 400 naming the field", async () => {
    const refused = async (trigger: unknown) => {
      const response = await fetch(`${server.url}/api/automations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(sink("bad", trigger)),
      });
      const body = (await response.json()) as { detail?: string };
      return `${response.status} ${response.headers.get("content-type")} ${body.detail}`;
    };
    const a = { events: ["bad.a"] };
    expect(await refused({ type: "compound", require: "all", triggers: [], within: 60 })).toMatch(
      /^400 application\/problem\+json.*trigger\.triggers: triggers is empty/,
    );
    expect(
      await refused({
        type: "sequence",
        triggers: [a, { type: "sequence", triggers: [a, a], within: 5 }],
        within: 60,
      }),
    ).toMatch(/^400 .*trigger\.triggers\.1: a sequence trigger cannot be nested/);
    expect(await refused({ type: "sequence", triggers: [a], within: 0 })).toMatch(
      /^400 .*trigger\.within: within must be a number of seconds above 0/,
    );
    expect(await refused({ type: "sequence", triggers: [a], within: 86_400 * 365 })).toMatch(
      /^400 .*trigger\.within: within is at most 30 days/,
    );
    expect(await refused({ type: "compound", require: 2, triggers: [a], within: 5 })).toMatch(
      /^400 .*trigger\.require: require is more than the number of triggers/,
    );
    expect(await refused({ type: "compound", require: "most", triggers: [a], within: 5 })).toMatch(
      /^400 .*trigger\.require: require is 'all', 'any' or how many/,
    );
    expect(
      await refused({ type: "compound", require: "all", triggers: Array(11).fill(a), within: 5 }),
    ).toMatch(/^400 .*trigger\.triggers: triggers holds at most 10/);
    expect(await refused({ type: "either", triggers: [a], within: 5 })).toMatch(
      /^400 .*trigger\.type: type is 'event' \(or left out\), 'compound', 'sequence' or 'metric'/,
    );
  });
});

describe.each(DIALECTS)("combined triggers across a restart on %s", (dialect: TestDialect) => {
  it("remembers the first event of an 'all' and a sequence across a restart and fires each once", async () => {
    const database = await throwawayDatabase(dialect);
    try {
      const first = await startTestServer(dialect, FAST, database);
      const triggers = [{ events: ["restart.a"] }, { events: ["restart.b"] }];
      const all = await first.client.api.createAutomation({
        body: sink("restart all", { type: "compound", require: "all", triggers, within: 3600 }),
      });
      const sequence = await first.client.api.createAutomation({
        body: sink("restart sequence", { type: "sequence", triggers, within: 3600 }),
      });
      const seen = await first.client.api.createAutomation({
        body: witness("restart", ["restart.a", "restart.b"]),
      });
      await first.client.api.createEvent({ body: { event: "restart.a", payload: { n: 1 } } });
      await actionRuns(first, seen.id, 1);
      await first.stop();

      const second = await startTestServer(dialect, FAST, database);
      try {
        const b = await second.client.api.createEvent({ body: { event: "restart.b", payload: { n: 2 } } });
        await actionRuns(second, seen.id, 2);
        for (const id of [all.id, sequence.id]) {
          const runs = await actionRuns(second, id, 1);
          expect(runs.map((run) => [run.eventId, run.resolved.text])).toEqual([[b.id, "restart.b 2"]]);
        }
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
    }
  });
});

// Several servers share one database on PostgreSQL only.
describe.skipIf(!TEST_POSTGRES_URL)("combined triggers on two servers sharing PostgreSQL", () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer("postgres", FAST);
    b = await startTestServer("postgres", FAST, a.database);
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it("fires once per completion, whichever server took each event, and never twice", async () => {
    const all = await a.client.api.createAutomation({
      body: sink("shared all", {
        type: "compound",
        require: "all",
        triggers: [{ events: ["shared.a"] }, { events: ["shared.b"] }],
        within: 3600,
      }),
    });
    const any = await a.client.api.createAutomation({
      body: sink("shared any", {
        type: "compound",
        require: "any",
        triggers: [{ events: ["shared.a"] }, { events: ["shared.b"] }],
        within: 3600,
      }),
    });
    const seen = await a.client.api.createAutomation({ body: witness("shared", ["shared.a", "shared.b"]) });
    // Each pair: its first event through one server, its second through the other.
    for (let pair = 0; pair < 3; pair++) {
      const [first, second] = pair % 2 === 0 ? [a, b] : [b, a];
      await first.client.api.createEvent({ body: { event: "shared.a", payload: { n: pair } } });
      await actionRuns(a, seen.id, 2 * pair + 1);
      expect(await actionRuns(a, all.id, pair)).toHaveLength(pair);
      await second.client.api.createEvent({ body: { event: "shared.b", payload: { n: pair } } });
      await actionRuns(a, all.id, pair + 1);
    }
    // A burst through both servers at once: "any" fires on each event exactly once.
    await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        (n % 2 === 0 ? a : b).client.api.createEvent({
          body: { event: "shared.a", payload: { n: 100 + n } },
        }),
      ),
    );
    await actionRuns(a, seen.id, 26);
    const fired = (await a.client.api.listActionRuns({ query: { automationId: any.id, limit: 1000 } })).items;
    expect(fired).toHaveLength(26);
    expect(new Set(fired.map((run) => run.eventId)).size).toBe(26);
    expect(await actionRuns(a, all.id, 3)).toHaveLength(3);
  });
});
