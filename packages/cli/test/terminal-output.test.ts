import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, throwawayDatabase, type TestServer } from "../../../test/helpers.js";
import { EventBus, loadSecretsKey, openDatabase, secretsKeyFile } from "@baton/server";
import { revealSecret } from "../../server/src/store/secrets.js";
import { batonAt, batonHome, oneLineError, type Result } from "./run-baton.js";

const RED = "\x1b[31m";
const TITLE = "\x1b]0;pwned\x07";

/** No escape, bell or other control character reached the output, except newlines. */
// eslint-disable-next-line no-control-regex -- looking for control characters is the point
const clean = (text: string) => expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);

describe("what the CLI prints from the server", () => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  let runId: string;
  beforeAll(async () => {
    server = await startTestServer("sqlite", { services: false });
    baton = batonAt(server.apiUrl);
    const run = await server.client.api.createFlowRun({
      body: { flowName: `evil${RED}flow`, name: `run${RED}name`, tags: [`tag${TITLE}`] },
    });
    runId = run.id;
    await server.client.api.createLogs({
      body: [
        {
          flowRunId: run.id,
          name: `logger${RED}`,
          level: 20,
          message: `before${TITLE}after\nsecond line`,
          timestamp: new Date().toISOString(),
        },
      ],
    });
  });
  afterAll(() => server.stop());

  it("escapes control characters in names in 'flow ls' and 'flow-run ls'", async () => {
    const [flows, runs] = await Promise.all([baton("flow", "ls"), baton("flow-run", "ls")]);
    expect(flows.stdout).toContain("evil\\x1b[31mflow");
    clean(flows.stdout);
    expect(runs.stdout).toContain("run\\x1b[31mname");
    expect(runs.stdout).toContain("evil\\x1b[31mflow");
    clean(runs.stdout);
  });

  it("escapes control characters in log lines, keeping their lines", async () => {
    const logs = await baton("flow-run", "logs", runId);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("logger\\x1b[31m - before\\x1b]0;pwned\\x07after\nsecond line\n");
    clean(logs.stdout);
  });

  it("escapes them in details and in error messages", async () => {
    const inspect = await baton("flow-run", "inspect", runId);
    expect(inspect.stdout).toContain("tag\\x1b]0;pwned\\x07");
    clean(inspect.stdout);
    const missing = await baton("work-pool", "inspect", `nope${RED}`);
    expect(oneLineError(missing)).toContain("nope\\x1b[31m");
    clean(missing.stderr);
  });

  it("keeps --json output as JSON, which escapes them itself", async () => {
    const listed = await baton("flow", "ls", "--json");
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((flow) => flow.name)).toContain(
      `evil${RED}flow`,
    );
  });
});

describe("baton work-pool and the job variable 'command'", () => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  beforeAll(async () => {
    server = await startTestServer("sqlite", { services: false });
    baton = batonAt(server.apiUrl);
  });
  afterAll(() => server.stop());

  it("creates, shows and updates whether deployments may set it", async () => {
    expect((await baton("work-pool", "create", "plain")).code).toBe(0);
    expect((await baton("work-pool", "inspect", "plain")).stdout).toMatch(
      /Command override:\s+not allowed \(only the pool's own default 'command'\)/,
    );
    expect((await baton("work-pool", "create", "open", "--allow-command-override")).code).toBe(0);
    expect((await baton("work-pool", "inspect", "open")).stdout).toMatch(/Command override:\s+allowed/);

    const closed = await baton("work-pool", "update", "open", "--no-allow-command-override");
    expect(closed.stdout).toContain("Updated work pool 'open': deployments and runs may not set 'command'.");
    expect((await server.client.api.readWorkPool({ params: { name: "open" } })).allowCommandOverride).toBe(
      false,
    );
    const opened = await baton("work-pool", "update", "plain", "--allow-command-override");
    expect(opened.stdout).toContain("deployments and runs may set 'command'");
    expect(oneLineError(await baton("work-pool", "update", "plain"))).toContain("nothing to change");
  });

  it("says how to allow it when a deployment sets it in a pool that does not", async () => {
    const refused = await baton(
      "deploy",
      `${fileURLToPath(new URL("fixtures/flows.ts", import.meta.url))}:greet`,
      "--name",
      "x",
      "--pool",
      "open",
      "--job-variable",
      'command=["sh","-c","id"]',
    );
    expect(oneLineError(refused)).toContain("baton work-pool update open --allow-command-override");
  });
});

describe("baton server secrets rotate-key", () => {
  const home = mkdtempSync(join(tmpdir(), "baton-rotate-"));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it("re-encrypts every secret with a new key and writes it to the key file", async () => {
    const database = await throwawayDatabase("sqlite");
    try {
      const server = await startTestServer("sqlite", { home, secretsKey: undefined }, database);
      await server.client.api.setSecret({ body: { name: "hook", value: "https://example.test/token-1" } });
      await server.stop();
      const before = readFileSync(secretsKeyFile(home), "utf8");

      const rotate = batonHome(home, { BATON_DATABASE_URL: database.url });
      const rotated = await rotate("server", "secrets", "rotate-key");
      expect(rotated.stdout).toMatch(
        /Re-encrypted 1 secret\(s\) of .* with key [0-9a-f]{8} \(was [0-9a-f]{8}\)\./,
      );
      expect(rotated.stdout).toContain(`Wrote the new key to ${secretsKeyFile(home)}.`);
      expect(readFileSync(secretsKeyFile(home), "utf8")).not.toBe(before);

      const db = openDatabase(database.url);
      try {
        const ctx = {
          db,
          events: new EventBus(),
          secretsKey: loadSecretsKey({ secretsKey: undefined, home }),
        };
        expect(await revealSecret(ctx, "hook")).toBe("https://example.test/token-1");
      } finally {
        await db.close();
      }

      const malformed = await rotate("server", "secrets", "rotate-key", "--new-key", "abc");
      expect(oneLineError(malformed)).toContain("--new-key is not a secrets key");
    } finally {
      await database.drop();
    }
  });
});
