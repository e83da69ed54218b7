import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StoredEvent, Webhook } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

describe.each(DIALECTS)("baton webhook and baton event on %s", (dialect) => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    baton = batonAt(server.apiUrl);
  });
  afterAll(() => server.stop());

  it("creates a webhook with a generated token, and its URL turns a request into an event", async () => {
    const template = JSON.stringify({
      event: "ci.{{ body.status }}",
      resource: { kind: "pipeline", id: "{{ body.pipeline }}" },
      payload: { pipeline: "{{ body.pipeline }}", attempt: "{{ body.attempt }}" },
    });
    const created = await baton("webhook", "create", "ci", "--template", template, "--generate-token");
    expect(created.code).toBe(0);
    const [first, second] = created.stdout.trimEnd().split("\n");
    const url = /^Created webhook 'ci': (http:\/\/\S+\/hooks\/[\w-]{24})$/.exec(first!)?.[1];
    expect(url).toBeDefined();
    const token = /: ([\w-]{32})$/.exec(second!)?.[1];
    expect(second).toMatch(/^Token \(shown once; callers send it as 'Authorization: Bearer <token>'/);
    expect(token).toBeDefined();

    const without = await fetch(url!, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(without.status).toBe(401);
    const sent = await fetch(url!, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ status: "passed", pipeline: "p-9", attempt: 2 }),
    });
    expect(sent.status).toBe(202);

    const events = json<StoredEvent[]>(await baton("event", "ls", "--name", "ci.", "--json"));
    expect(events.map(({ name, resource, payload }) => ({ name, resource, payload }))).toEqual([
      {
        name: "ci.passed",
        resource: { kind: "pipeline", id: "p-9" },
        payload: { pipeline: "p-9", attempt: 2 },
      },
    ]);
    const listed = await baton("event", "ls", "--name", "ci.");
    expect(listed.stdout).toMatch(/^OCCURRED\s+EVENT\s+RESOURCE\s+FLOW RUN\s+PAYLOAD\n/);
    expect(listed.stdout).toContain("ci.passed  pipeline:p-9");

    const webhooks = json<(Webhook & { url: string })[]>(await baton("webhook", "ls", "--json"));
    expect(webhooks.map(({ name, url: at, hasToken, enabled }) => ({ name, at, hasToken, enabled }))).toEqual(
      [{ name: "ci", at: url, hasToken: true, enabled: true }],
    );
    const table = (await baton("webhook", "ls")).stdout.trimEnd().split("\n");
    expect(table[0]).toMatch(/^NAME\s+STATUS\s+TOKEN\s+EVENT\s+URL$/);
    expect(table[1]).toMatch(
      new RegExp(`^ci\\s+enabled\\s+yes\\s+ci\\.\\{\\{ body\\.status \\}\\}\\s+${url}$`),
    );
    const inspected = (await baton("webhook", "inspect", "ci")).stdout;
    expect(inspected).toContain(`URL:`);
    expect(inspected).toContain(url);
    expect(inspected).toContain("required");
    expect(inspected).not.toContain(token);
  });

  it("disables, enables, drops the token, moves the URL and deletes a webhook", async () => {
    const created = await baton("webhook", "create", "door", "--template", '{"event": "door.knock"}');
    const url = created.stdout.trim().split(": ")[1]!;
    const knock = () =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect((await knock()).status).toBe(202);
    expect((await baton("webhook", "update", "door", "--disable")).stdout).toMatch(
      /^Updated webhook 'door' \(disabled\): /,
    );
    expect((await knock()).status).toBe(404);
    await baton("webhook", "update", "door", "--enable", "--token", "a-token-of-16-chars+");
    expect((await knock()).status).toBe(401);
    await baton("webhook", "update", "door", "--no-token");
    expect((await knock()).status).toBe(202);
    const moved = await baton("webhook", "update", "door", "--new-url");
    const newUrl = moved.stdout.trim().split(": ")[1]!;
    expect(newUrl).not.toBe(url);
    expect((await knock()).status).toBe(404);
    expect(await baton("webhook", "delete", "door")).toMatchObject({
      code: 0,
      stdout: "Deleted webhook 'door'.\n",
    });
    expect(oneLineError(await baton("webhook", "inspect", "door"))).toBe(
      "error: webhook 'door' does not exist",
    );
  });

  it("says what is wrong with a template, a token or a missing change", async () => {
    expect(oneLineError(await baton("webhook", "create", "x"))).toContain("a webhook needs --template");
    expect(oneLineError(await baton("webhook", "create", "x", "--template", "{nope"))).toContain(
      "--template is not JSON",
    );
    expect(
      oneLineError(await baton("webhook", "create", "x", "--template", '{"event": "worker.offline"}')),
    ).toContain("is Baton's own");
    expect(
      oneLineError(
        await baton("webhook", "create", "x", "--template", '{"event": "a.b"}', "--token", "short"),
      ),
    ).toContain("16 characters at least");
    await baton("webhook", "create", "quiet", "--template", '{"event": "a.b"}');
    expect(oneLineError(await baton("webhook", "update", "quiet"))).toContain("nothing to change");
  });

  it("emits a custom event, and refuses Baton's own names", async () => {
    const sent = await baton(
      "event",
      "emit",
      "shop.order-paid",
      "--payload",
      '{"order_id": 7}',
      "--resource",
      "order:o-7",
    );
    expect(sent.stdout).toMatch(/^Sent event 'shop\.order-paid' \(id [0-9a-f-]{36}\)\.\n$/);
    const [event] = json<StoredEvent[]>(await baton("event", "ls", "--resource", "o-7", "--json"));
    expect(event).toMatchObject({
      name: "shop.order-paid",
      resource: { kind: "order", id: "o-7" },
      payload: { order_id: 7 },
    });
    expect(oneLineError(await baton("event", "emit", "flow-run.state-changed"))).toContain("is Baton's own");
    expect(oneLineError(await baton("event", "emit", "a.b", "--payload", "[1]"))).toContain(
      "--payload must be a JSON object",
    );
  });
});
