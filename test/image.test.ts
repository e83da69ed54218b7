import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureNodeImage, findDockerEngine } from "../packages/worker/test/docker-engine.js";
import { TEST_POSTGRES_URL, throwawayDatabase, type ThrowawayDatabase } from "./helpers.js";

// The server image (Containerfile) built and run as a user would, on the engine the docker pool's tests
// use (Podman here, through scripts/podman.sh). Building takes a minute the first time, seconds after.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 600_000 });

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const IMAGE = "baton-server:test";
const run = promisify(execFile);

/** The engine's command line: podman, else docker. */
async function engineCli(): Promise<string | undefined> {
  for (const cli of ["podman", "docker"]) {
    if (
      await run("sh", ["-c", `command -v ${cli}`]).then(
        () => true,
        () => false,
      )
    )
      return cli;
  }
  return undefined;
}

const cli = await engineCli();
const noEngine = findDockerEngine() ?? (cli ? undefined : "neither podman nor docker is installed");
if (noEngine) {
  console.warn(`\n${"!".repeat(100)}\nSERVER IMAGE TESTS SKIPPED: ${noEngine}\n${"!".repeat(100)}\n`);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

interface Container {
  name: string;
  process: ChildProcess;
  output: string[];
  url: string;
}

/** Runs the image in the foreground on the host's network; resolves once the server says it runs. */
async function startContainer(name: string, env: Record<string, string>, volume: string): Promise<Container> {
  const port = await freePort();
  const flags = Object.entries({ ...env, BATON_SERVER_PORT: String(port) }).flatMap(([k, v]) => [
    "-e",
    `${k}=${v}`,
  ]);
  const child = spawn(
    cli!,
    ["run", "--rm", "--name", name, "--network", "host", "-v", `${volume}:/data`, ...flags, IMAGE],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const output: string[] = [];
  createInterface({ input: child.stderr }).on("line", (line) => output.push(line));
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`the container exited (${String(code)}) before it ran the server:\n${output.join("\n")}`);
  });
  const running = (async () => {
    for await (const line of createInterface({ input: child.stdout })) {
      output.push(line);
      if (line.includes("BATON_API_URL")) return;
    }
  })();
  await Promise.race([running, exited]);
  return { name, process: child, output, url: `http://127.0.0.1:${port}` };
}

/** SIGTERM through the engine; the server closes and the container ends with code 0. */
async function stopContainer(container: Container): Promise<number> {
  const exit = once(container.process, "exit");
  await run(cli!, ["stop", "--time", "20", container.name]);
  const [code] = (await exit) as [number];
  return code;
}

/** Runs node in the image with the volume mounted, instead of the server. */
async function nodeInImage(volume: string, script: string): Promise<string> {
  const { stdout } = await run(cli!, [
    "run",
    "--rm",
    "-v",
    `${volume}:/data`,
    "--entrypoint",
    "node",
    IMAGE,
    "-e",
    script,
  ]);
  return stdout.trim();
}

async function expectServing(container: Container, database: string): Promise<void> {
  const health = await fetch(`${container.url}/api/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: "ok", database });
  const page = await fetch(`${container.url}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toContain("text/html");
  expect(await page.text()).toContain('<div id="root">');
}

describe.skipIf(noEngine !== undefined)("the server image", () => {
  const suffix = `${process.pid}`;
  const volumes: string[] = [];
  const containers: Container[] = [];
  const context = join(ROOT, ".baton-test", `image-context-${suffix}`);

  beforeAll(async () => {
    ensureNodeImage();
    mkdirSync(join(ROOT, ".baton-test"), { recursive: true });
    await run(process.execPath, [join(ROOT, "scripts", "image-context.mjs"), context]);
    await run(cli!, ["build", "--quiet", "-f", join(ROOT, "Containerfile"), "-t", IMAGE, context], {
      maxBuffer: 16 * 1024 * 1024,
    });
  });
  afterAll(async () => {
    await Promise.all(containers.map((c) => run(cli!, ["rm", "-f", c.name]).catch(() => undefined)));
    await Promise.all(volumes.map((v) => run(cli!, ["volume", "rm", "-f", v]).catch(() => undefined)));
    rmSync(context, { recursive: true, force: true });
  });

  const volume = (name: string) => {
    volumes.push(`${name}-${suffix}`);
    return `${name}-${suffix}`;
  };

  it("refuses to listen on 0.0.0.0 without an API key, saying how to go on", async () => {
    const refused = await run(cli!, ["run", "--rm", "--network", "host", IMAGE]).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toContain("error: refusing to listen on 0.0.0.0 without an API key");
  });

  it("runs as a non-root user on SQLite in its volume, answering health and serving the dashboard", async () => {
    const data = volume("baton-image-sqlite");
    const container = await startContainer(
      `baton-image-sqlite-${suffix}`,
      { BATON_API_KEY: "image-test-key" },
      data,
    );
    containers.push(container);
    await expectServing(container, "sqlite");
    // The API itself wants the key.
    expect((await fetch(`${container.url}/api/flow-runs`)).status).toBe(401);
    const listed = await fetch(`${container.url}/api/flow-runs`, {
      headers: { authorization: "Bearer image-test-key" },
    });
    expect(listed.status).toBe(200);
    expect(await stopContainer(container)).toBe(0);
    // The database is in the volume, written by the image's user, not root.
    expect(
      await nodeInImage(
        data,
        "const s = require('fs').statSync('/data/baton.db'); console.log(process.getuid(), s.uid)",
      ),
    ).toBe("10001 10001");
  });

  describe.skipIf(!TEST_POSTGRES_URL)("on PostgreSQL", () => {
    let database: ThrowawayDatabase;
    beforeAll(async () => {
      database = await throwawayDatabase("postgres");
    });
    afterAll(async () => {
      await database?.drop();
    });

    it("uses the database it is given, with the explicit opt-out of an API key", async () => {
      const container = await startContainer(
        `baton-image-postgres-${suffix}`,
        { BATON_DATABASE_URL: database.url, BATON_INSECURE_NO_API_KEY: "true" },
        volume("baton-image-postgres"),
      );
      containers.push(container);
      // It started on 0.0.0.0 without a key (refused above without the opt-out); the API is open.
      expect((await fetch(`${container.url}/api/flow-runs`)).status).toBe(200);
      await expectServing(container, "postgres");
      expect(await stopContainer(container)).toBe(0);
    });
  });
});
