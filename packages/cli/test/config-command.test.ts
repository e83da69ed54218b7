import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonHome, json, oneLineError } from "./run-baton.js";

interface View {
  profile: string;
  settings: { key: string; value: string | null; source: string }[];
}

const homes: string[] = [];
async function freshHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "baton-home-"));
  homes.push(home);
  return home;
}
afterAll(async () => {
  await Promise.all(homes.map((home) => rm(home, { recursive: true, force: true })));
});

const setting = (view: View, key: string) => view.settings.find((entry) => entry.key === key);

describe("baton config", () => {
  it("sets, views and unsets settings in the active profile, with their sources", async () => {
    const home = await freshHome();
    const baton = batonHome(home);
    const empty = json<View>(await baton("config", "view", "--json"));
    expect(empty.profile).toBe("default");
    expect(setting(empty, "BATON_API_URL")).toEqual({
      key: "BATON_API_URL",
      value: "http://127.0.0.1:4200/api",
      source: "default",
    });
    expect(setting(empty, "BATON_API_KEY")).toMatchObject({ value: null, source: "default" });

    const set = await baton(
      "config",
      "set",
      "BATON_API_URL=http://example:1/api",
      "BATON_API_KEY=s3cret-abcd",
    );
    expect(set.code).toBe(0);
    expect(set.stdout).toContain("Set BATON_API_URL=http://example:1/api in profile 'default'.");
    expect(set.stdout).not.toContain("s3cret");
    const file = JSON.parse(await readFile(join(home, "profiles.json"), "utf8")) as unknown;
    expect(file).toEqual({
      active: "default",
      profiles: { default: { BATON_API_URL: "http://example:1/api", BATON_API_KEY: "s3cret-abcd" } },
    });
    // Written atomically: no temporary file is left behind.
    expect(await readdir(home)).toEqual(["profiles.json"]);

    const view = await baton("config", "view");
    expect(view.stdout).toContain("BATON_API_URL=http://example:1/api (from profile 'default')");
    expect(view.stdout).toContain("BATON_API_KEY=****abcd (from profile 'default')");
    expect(view.stdout).not.toContain("s3cret");

    const unset = await baton("config", "unset", "BATON_API_KEY");
    expect(unset.stdout.trim()).toBe("Unset BATON_API_KEY in profile 'default'.");
    const after = json<View>(await baton("config", "view", "--json"));
    expect(setting(after, "BATON_API_KEY")).toMatchObject({ value: null, source: "default" });
    expect(setting(after, "BATON_API_URL")).toMatchObject({ source: "profile 'default'" });
  });

  it("lets the environment override the profile, and says so", async () => {
    const home = await freshHome();
    await batonHome(home)("config", "set", "BATON_API_URL=http://profile:1/api", "BATON_LOG_LEVEL=debug");
    const view = json<View>(
      await batonHome(home, { BATON_API_URL: "http://env:2/api" })("config", "view", "--json"),
    );
    expect(setting(view, "BATON_API_URL")).toMatchObject({ value: "http://env:2/api", source: "env" });
    expect(setting(view, "BATON_LOG_LEVEL")).toMatchObject({ value: "debug", source: "profile 'default'" });
  });

  it("rejects unknown keys and pairs without '=' in one line", async () => {
    const baton = batonHome(await freshHome());
    const [unknown, noEquals, unsetUnknown] = await Promise.all([
      baton("config", "set", "BATON_NOPE=1"),
      baton("config", "set", "BATON_API_URL"),
      baton("config", "unset", "NOPE"),
    ]);
    expect(oneLineError(unknown)).toBe(
      "error: unknown setting 'BATON_NOPE'; the settings are BATON_API_URL, BATON_API_KEY, " +
        "BATON_DATABASE_URL, BATON_SERVER_HOST, BATON_SERVER_PORT, BATON_LOG_LEVEL",
    );
    expect(oneLineError(noEquals)).toContain("'BATON_API_URL' is not KEY=VALUE");
    expect(oneLineError(unsetUnknown)).toContain("unknown setting 'NOPE'");
  });
});

describe("baton profile", () => {
  it("creates, uses, lists, inspects and deletes profiles; BATON_PROFILE picks one for a command", async () => {
    const home = await freshHome();
    const baton = batonHome(home);
    await baton("config", "set", "BATON_API_URL=http://base:1/api");
    const created = await baton("profile", "create", "dev", "--from", "default");
    expect(created.stdout).toContain("Created profile 'dev' from 'default'.");
    expect((await baton("profile", "create", "empty")).code).toBe(0);
    expect(oneLineError(await baton("profile", "create", "dev"))).toBe("error: profile 'dev' already exists");

    expect((await baton("profile", "use", "dev")).stdout.trim()).toBe("Now using profile 'dev'.");
    await baton("config", "set", "BATON_API_URL=http://dev:1/api");
    expect((await baton("profile", "ls")).stdout).toBe("  default\n* dev\n  empty\n");
    expect(json(await baton("profile", "ls", "--json"))).toEqual([
      { name: "default", active: false },
      { name: "dev", active: true },
      { name: "empty", active: false },
    ]);
    expect(json(await baton("profile", "inspect", "default", "--json"))).toEqual({
      name: "default",
      settings: { BATON_API_URL: "http://base:1/api" },
    });
    expect((await baton("profile", "inspect")).stdout).toMatch(
      /Profile 'dev' \(active\)\nBATON_API_URL:\s+http:\/\/dev:1\/api/,
    );

    const once = json<View>(await batonHome(home, { BATON_PROFILE: "default" })("config", "view", "--json"));
    expect(once.profile).toBe("default");
    expect(setting(once, "BATON_API_URL")).toMatchObject({
      value: "http://base:1/api",
      source: "profile 'default'",
    });

    expect(oneLineError(await baton("profile", "delete", "dev"))).toContain(
      "profile 'dev' is the active one",
    );
    expect(oneLineError(await baton("profile", "use", "nope"))).toBe("error: profile 'nope' does not exist");
    expect((await baton("profile", "delete", "empty")).stdout.trim()).toBe("Deleted profile 'empty'.");
    expect(json(await baton("profile", "ls", "--json"))).toEqual([
      { name: "default", active: false },
      { name: "dev", active: true },
    ]);
  });
});

describe("the server's settings from the profile", () => {
  it("gives the server the profile's BATON_DATABASE_URL unless the environment sets it", async () => {
    const home = await freshHome();
    const file = join(home, "from-profile.db");
    await batonHome(home)("config", "set", `BATON_DATABASE_URL=${file}`);
    const upgraded = await batonHome(home)("server", "database", "upgrade");
    expect(upgraded.stderr).toBe("");
    expect(upgraded.stdout).toContain(file);
    expect(await readdir(home)).toContain("from-profile.db");
    const envFile = join(home, "from-env.db");
    const overridden = await batonHome(home, { BATON_DATABASE_URL: envFile })(
      "server",
      "database",
      "upgrade",
    );
    expect(overridden.stdout).toContain(envFile);
  });
});

describe("a command using the profile's API URL", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer("sqlite");
  });
  afterAll(() => server.stop());

  it("talks to the server set only in the profile", async () => {
    await server.client.api.createWorkPool({ body: { name: "profile-pool" } });
    const home = await freshHome();
    const baton = batonHome(home);
    await baton("profile", "create", "local");
    await baton("profile", "use", "local");
    await baton("config", "set", `BATON_API_URL=${server.apiUrl}`);
    const pools = json<{ name: string }[]>(await baton("work-pool", "ls", "--json"));
    expect(pools.map((pool) => pool.name)).toContain("profile-pool");
    // With another profile selected for one command, the CLI goes to the default URL instead.
    const elsewhere = await batonHome(home, {
      BATON_PROFILE: "default",
      BATON_API_URL: "http://127.0.0.1:9/api",
    })("work-pool", "ls");
    expect(oneLineError(elsewhere)).toContain("cannot reach the Baton API at http://127.0.0.1:9/api");
  });
});
