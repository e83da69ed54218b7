import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployment, FlowRun } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";
import { failure, isType, waitForLog, waitForRunState } from "../../../test/runs.js";
import { BATON, batonAt, json, oneLineError } from "./run-baton.js";

// The SDK the project's flow imports: its "npm ci" links it into node_modules, as an install would.
const SDK = fileURLToPath(new URL("../../sdk", import.meta.url));
const INSTALL = `mkdir -p node_modules/@baton && ln -s '${SDK}' node_modules/@baton/sdk && echo installed the SDK`;

const FLOWS = `import { flow } from "@baton/sdk";

export const fromGit = flow({ name: "from-git" }, async (_parameters: Record<string, never>, { logger }) => {
  logger.info(\`running in \${process.cwd()}\`);
  return "pulled";
});
`;

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "user.name=Baton", "-c", "user.email=baton@example.com", ...args], {
    cwd,
    encoding: "utf8",
  });

describe.each(DIALECTS)(
  "pull steps: a worker with no copy of the code runs it from git, on %s",
  (dialect) => {
    let server: TestServer;
    let root: string;
    let cache: string;
    let repository: string;
    let worker: TestProcess;
    const deployments = new Map<string, Deployment>();

    beforeAll(async () => {
      server = await startTestServer(dialect);
      await server.client.api.createWorkPool({ body: { name: "pulled", type: "process" } });
      root = mkdtempSync(join(tmpdir(), "baton-pull-"));
      // The project's repository: a bare one, pushed to with git, read by the worker over file://.
      const origin = join(root, "origin.git");
      git(root, "init", "--quiet", "--bare", "-b", "main", origin);
      const project = join(root, "project");
      mkdirSync(project);
      repository = `file://${origin}`;
      const clone = `{ step: git_clone, repository: "${repository}", branch: main }`;
      writeFileSync(join(project, "package.json"), JSON.stringify({ private: true, type: "module" }));
      writeFileSync(join(project, "flows.ts"), FLOWS);
      writeFileSync(join(project, ".gitignore"), "node_modules/\n");
      writeFileSync(
        join(project, "baton.yaml"),
        `pull:
  - ${clone}
  - step: run_shell_script
    script: ${JSON.stringify(INSTALL)}
deployments:
  - name: main
    entrypoint: flows.ts:fromGit
    workPool: pulled
  - name: broken
    entrypoint: flows.ts:fromGit
    workPool: pulled
    pull:
      - ${clone}
      - step: run_shell_script
        script: echo about to fail; exit 3
  - name: locked
    entrypoint: flows.ts:fromGit
    workPool: pulled
    pull:
      - { step: git_clone, repository: "${repository}", credentialsSecret: git-token }
`,
      );
      git(project, "init", "--quiet", "-b", "main");
      git(project, "add", ".");
      git(project, "commit", "--quiet", "-m", "A flow and its baton.yaml");
      git(project, "push", "--quiet", origin, "main");
      // The author's folder has its dependencies installed: deploying loads the flow.
      mkdirSync(join(project, "node_modules", "@baton"), { recursive: true });
      symlinkSync(SDK, join(project, "node_modules", "@baton", "sdk"));

      const deployed = await batonAt(server.apiUrl, {}, project)("deploy", "--all", "--json");
      for (const deployment of json<Deployment[]>(deployed)) deployments.set(deployment.name, deployment);

      // The worker's folder holds nothing; its clones are cached under its BATON_HOME.
      const workerDir = join(root, "worker");
      mkdirSync(workerDir);
      cache = join(workerDir, "home", "pull-cache");
      worker = startProcess([BATON, "worker", "start", "--pool", "pulled"], {
        built: true,
        cwd: workerDir,
        env: { BATON_API_URL: server.apiUrl, BATON_HOME: join(workerDir, "home") },
      });
      await worker.waitForLine(/^Worker '.*' started on process pool 'pulled'$/);
    });
    afterAll(async () => {
      await worker?.stop();
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    });

    const run = async (name: string): Promise<FlowRun> => {
      const created = await server.client.api.createDeploymentRun({
        params: { id: deployments.get(name)!.id },
        body: {},
      });
      return waitForRunState(server.client, created.id, isType("COMPLETED", "FAILED", "CRASHED"));
    };
    const logsOf = async (flowRunId: string) =>
      (await server.client.api.listLogs({ query: { flowRunId, limit: 1000 } })).items.map(
        (log) => log.message,
      );

    it("stores the pull steps with each deployment, the file's own where it gives none", () => {
      expect(deployments.get("main")!.pullSteps).toEqual([
        { step: "git_clone", repository, branch: "main" },
        { step: "run_shell_script", script: INSTALL },
      ]);
      expect(deployments.get("broken")!.pullSteps[1]).toEqual({
        step: "run_shell_script",
        script: "echo about to fail; exit 3",
      });
    });

    it("clones, installs and runs the flow in a folder of the run's own, removed after; a second run clones nothing", async () => {
      const first = await run("main");
      expect(first.state).toMatchObject({ type: "COMPLETED" });
      await waitForLog(server.client, first.id, "running in ");
      const firstLogs = await logsOf(first.id);
      expect(firstLogs).toContainEqual(
        expect.stringMatching(/^pull step 1 of 2 \(git_clone file:.* at main\)$/),
      );
      expect(firstLogs).toContainEqual(expect.stringMatching(/^cloning file:.* into the cache/));
      expect(firstLogs).toContain("installed the SDK");
      const folder = firstLogs.find((line) => line.startsWith("running in "))!.slice("running in ".length);
      expect(folder).toMatch(/baton-run-.*\/origin$/);
      await worker.waitForLine(new RegExp(`^flow run '${first.name}' job exited with code 0$`));
      expect(existsSync(folder)).toBe(false);

      const second = await run("main");
      expect(second.state).toMatchObject({ type: "COMPLETED" });
      await waitForLog(server.client, second.id, "running in ");
      const secondLogs = await logsOf(second.id);
      expect(secondLogs).toContainEqual(expect.stringMatching(/ is in the cache .*: no clone$/));
      expect(secondLogs.filter((line) => /cloning|fetching/.test(line))).toEqual([]);
      expect(readdirSync(cache).filter((entry) => entry.endsWith(".git"))).toHaveLength(1);
    });

    it("fails a run whose step fails, naming the step, with the step's output in its logs", async () => {
      const failed = await run("broken");
      expect(failed.state).toMatchObject({ type: "FAILED" });
      expect(failed.state?.message).toBe(
        "the worker could not start the job: pull step 2 of 2 (run_shell_script 'echo about to fail; exit 3') failed: the script exited with code 3",
      );
      await waitForLog(server.client, failed.id, "about to fail");
    });

    it("fails a run whose clone names a secret that does not exist, naming both", async () => {
      const failed = await run("locked");
      expect(failed.state).toMatchObject({ type: "FAILED" });
      expect(failed.state?.message).toMatch(
        /^the worker could not start the job: pull step 1 of 1 \(git_clone file:.*\) failed: .*git-token/,
      );
    });

    it("is refused by the API when a step is unknown, a URL holds a password, would be read as git's option or command, or a folder climbs out", async () => {
      const create = (pullSteps: unknown) =>
        failure(
          server.client.api.createDeployment({
            body: { name: "bad", flowName: "from-git", pullSteps } as never,
          }),
        );
      const [unknown, password, climbing, option, command] = await Promise.all([
        create([{ step: "git_pull", repository: "x" }]),
        create([{ step: "git_clone", repository: "https://me:hunter22@example.com/app.git" }]),
        create([{ step: "set_working_directory", directory: "../elsewhere" }]),
        create([{ step: "git_clone", repository: "--upload-pack=touch /tmp/owned" }]),
        create([{ step: "git_clone", repository: "ext::sh -c touch% /tmp/owned" }]),
      ]);
      for (const refused of [option, command]) expect(refused.message).toContain("not starting with '-'");
      expect(unknown).toMatchObject({ code: "invalid_argument" });
      expect(unknown.message).toContain("pullSteps.0.step");
      expect(password.message).toContain("must not hold a password");
      expect(password.message).not.toContain("hunter22");
      expect(climbing.message).toContain("stays inside the working directory");
    });

    it("refuses a baton.yaml with an unknown step, naming its line and field", async () => {
      const folder = join(root, "misspelt");
      mkdirSync(folder);
      writeFileSync(
        join(folder, "baton.yaml"),
        "deployments:\n  - name: a\n    entrypoint: flows.ts:a\n    workPool: pulled\n    pull:\n      - step: git_pull\n        repository: x\n",
      );
      expect(oneLineError(await batonAt(server.apiUrl, {}, folder)("deploy", "--all"))).toBe(
        "error: baton.yaml:6: deployments[0].pull[0].step: must be one of git_clone, set_working_directory, run_shell_script",
      );
    });
  },
);
