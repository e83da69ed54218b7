import { execFileSync, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClaimedRun, PullStep } from "@baton/core";
import { dockerAdapter } from "./docker-adapter.js";
import { GitCache } from "./git-cache.js";
import { pullCode } from "./pull-steps.js";

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=Baton", "-c", "user.email=baton@example.com", ...args], {
    cwd,
    encoding: "utf8",
  }).trim();

describe("pull steps", () => {
  let root: string;
  let repository: string;
  let author: string;

  /** Commits `text` as version.txt and pushes it to the repository's main branch; its commit. */
  const publish = (text: string): string => {
    writeFileSync(join(author, "version.txt"), text);
    git(author, "add", ".");
    git(author, "commit", "--quiet", "-m", text);
    git(author, "push", "--quiet", "origin", "main");
    return git(author, "rev-parse", "HEAD");
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "baton-pull-steps-"));
    const origin = join(root, "app.git");
    git(root, "init", "--quiet", "--bare", "-b", "main", origin);
    repository = `file://${origin}`;
    author = join(root, "author");
    mkdirSync(join(author, "service"), { recursive: true });
    writeFileSync(join(author, "service", "README"), "the service\n");
    git(author, "init", "--quiet", "-b", "main");
    git(author, "remote", "add", "origin", origin);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** Takes the steps with a cache in `cacheDir`; the lines they printed come with the result. */
  const pull = async (steps: PullStep[], cacheDir: string) => {
    const lines: string[] = [];
    const pulled = await pullCode(steps, new GitCache(cacheDir), {
      secret: (name) => Promise.reject(new Error(`secret '${name}' does not exist`)),
      onOutput: (_, line) => lines.push(line),
    });
    return { ...pulled, lines };
  };

  it("checks out a branch's newest commit, fetching only what the cache lacks, and a pinned commit without fetching", async () => {
    const cacheDir = join(root, "cache-1");
    const first = publish("one");
    const clone: PullStep = { step: "git_clone", repository, branch: "main" };

    const one = await pull([clone], cacheDir);
    expect(one.workingDir).toMatch(/baton-run-.*\/app$/);
    expect(readFileSync(join(one.workingDir, "version.txt"), "utf8")).toBe("one");
    expect(one.lines.filter((line) => line.startsWith("cloning "))).toHaveLength(1);

    const second = publish("two");
    const two = await pull([clone], cacheDir);
    expect(readFileSync(join(two.workingDir, "version.txt"), "utf8")).toBe("two");
    expect(two.lines).toContain(`fetching ${repository}: commit ${second} is not in the cache yet`);
    expect(two.lines.some((line) => line.startsWith("cloning "))).toBe(false);

    const pinned = await pull([{ step: "git_clone", repository, commit: first.slice(0, 10) }], cacheDir);
    expect(readFileSync(join(pinned.workingDir, "version.txt"), "utf8")).toBe("one");
    expect(pinned.lines).toContainEqual(expect.stringMatching(/is in the cache .*: no clone$/) as string);
    // Two runs at once each have their own folder, from the one clone.
    expect(one.workingDir).not.toBe(pinned.workingDir);
    expect(readdirSync(cacheDir)).toHaveLength(1);

    for (const run of [one, two, pinned]) await run.remove();
    expect([one, two, pinned].some((run) => existsSync(run.workingDir))).toBe(false);
    const worktrees = git(join(cacheDir, readdirSync(cacheDir)[0]!), "worktree", "list");
    expect(worktrees.split("\n")).toHaveLength(1); // the clone itself: the runs' worktrees are forgotten
  });

  it("steps into a folder of the clone and runs scripts there, their output as lines", async () => {
    const pulled = await pull(
      [
        { step: "git_clone", repository },
        { step: "set_working_directory", directory: "service" },
        { step: "run_shell_script", script: 'cat README; echo "$GREETING" >&2', env: { GREETING: "hi" } },
      ],
      join(root, "cache-2"),
    );
    expect(pulled.workingDir).toMatch(/\/app\/service$/);
    expect(pulled.lines).toEqual([
      `pull step 1 of 3 (git_clone ${repository})`,
      expect.stringMatching(/^cloning /) as string,
      expect.stringMatching(/^checked out /) as string,
      "pull step 2 of 3 (set_working_directory service)",
      `pull step 3 of 3 (run_shell_script 'cat README; echo "$GREETING" >&2')`,
      "the service",
      "hi",
    ]);
    await pulled.remove();
  });

  it("clones over HTTP with the secret's credentials, which no line shows", async () => {
    publish("served");
    const token = "s3cret-token-value";
    const served = await gitOverHttp(
      root,
      `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`,
    );
    try {
      const url = `${served.url}/app.git`;
      const cacheDir = join(root, "cache-http");
      const without = await pull([{ step: "git_clone", repository: url }], cacheDir).catch(
        (error: Error) => error,
      );
      expect(without).toBeInstanceOf(Error);
      expect((without as Error).message).toMatch(
        /^pull step 1 of 1 \(git_clone .*\) failed: git ls-remote failed/,
      );

      const lines: string[] = [];
      const pulled = await pullCode(
        [{ step: "git_clone", repository: url, credentialsSecret: "git-token" }],
        new GitCache(cacheDir),
        {
          secret: (name) => (name === "git-token" ? Promise.resolve(token) : Promise.reject(new Error(name))),
          onOutput: (_, line) => lines.push(line),
        },
      );
      expect(readFileSync(join(pulled.workingDir, "version.txt"), "utf8")).toBe("served");
      expect(lines.join("\n")).not.toContain(token);
      // The cached clone keeps the URL as given: the credentials are nowhere on disk.
      const clone = join(cacheDir, readdirSync(cacheDir)[0]!);
      expect(readFileSync(join(clone, "config"), "utf8")).not.toContain(token);
      expect(served.refused).toBeGreaterThan(0);
      await pulled.remove();
    } finally {
      await new Promise((resolve) => served.server.close(resolve));
    }
  });

  it.each<[string, PullStep[], string]>([
    [
      "an unknown branch",
      [{ step: "git_clone", repository: "", branch: "nope" }],
      "pull step 1 of 1 (git_clone REPO at nope) failed: REPO has no branch 'nope'",
    ],
    [
      "a folder the clone lacks",
      [
        { step: "git_clone", repository: "" },
        { step: "set_working_directory", directory: "docs" },
      ],
      "pull step 2 of 2 (set_working_directory docs) failed: no folder 'docs' in ",
    ],
    [
      "a folder outside the run's",
      [{ step: "set_working_directory", directory: "../.." }],
      "pull step 1 of 1 (set_working_directory ../..) failed: '../..' is outside the run's folder",
    ],
    [
      "a missing secret",
      [{ step: "git_clone", repository: "", credentialsSecret: "token" }],
      "pull step 1 of 1 (git_clone REPO) failed: secret 'token' does not exist",
    ],
  ])("fails on %s, naming the step", async (_, steps, message) => {
    const withRepository = steps.map((step) => (step.step === "git_clone" ? { ...step, repository } : step));
    await expect(pull(withRepository, join(root, "cache-3"))).rejects.toThrow(
      message.replaceAll("REPO", repository),
    );
  });
});

describe("a docker pool", () => {
  it("refuses a run whose deployment has pull steps before reaching the engine, saying why", async () => {
    const run = {
      flowRun: { flowName: "report", deploymentName: "nightly" },
      deployment: {
        entrypoint: "flows.ts:report",
        pullSteps: [{ step: "run_shell_script", script: "npm ci" }],
      },
      jobVariables: { image: "node:22" },
    } as unknown as ClaimedRun;
    const context = { workerName: "w", env: {}, onOutput: () => undefined };
    await expect(dockerAdapter.start(run, context)).rejects.toThrow(
      "deployment 'report/nightly' has pull steps, which process pools take",
    );
  });
});

/**
 * The repositories under `root` over HTTP on 127.0.0.1, through git's own http-backend, answering
 * 401 to a request without `authorization` as its Authorization header.
 */
async function gitOverHttp(
  root: string,
  authorization: string,
): Promise<{ server: Server; url: string; refused: number }> {
  const served = { refused: 0 } as { server: Server; url: string; refused: number };
  served.server = createServer((request, response) => {
    if (request.headers.authorization !== authorization) {
      served.refused += 1;
      response.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end();
      return;
    }
    const [path = "", query = ""] = (request.url ?? "").split("?");
    const backend = spawn("git", ["http-backend"], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        PATH_INFO: path,
        QUERY_STRING: query,
        REQUEST_METHOD: request.method ?? "GET",
        CONTENT_TYPE: request.headers["content-type"] ?? "",
        REMOTE_USER: "x-access-token",
      },
    });
    request.pipe(backend.stdin);
    const chunks: Buffer[] = [];
    backend.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    backend.on("close", () => {
      const output = Buffer.concat(chunks);
      const end = output.indexOf("\r\n\r\n");
      const headers = output.subarray(0, end).toString().split("\r\n");
      let status = 200;
      for (const header of headers) {
        const [name = "", ...value] = header.split(": ");
        if (name.toLowerCase() === "status") status = Number.parseInt(value.join(": "), 10);
        else response.setHeader(name, value.join(": "));
      }
      response.writeHead(status).end(output.subarray(end + 4));
    });
  });
  await new Promise<void>((resolve) => served.server.listen(0, "127.0.0.1", resolve));
  const { port } = served.server.address() as { port: number };
  served.url = `http://127.0.0.1:${port}`;
  return served;
}
