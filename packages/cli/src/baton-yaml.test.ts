import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readProject } from "./baton-yaml.js";
import { scaffold } from "./commands/init.js";

const folder = mkdtempSync(join(tmpdir(), "baton-yaml-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** baton.yaml holding `text`, in a folder of its own. */
function project(text: string): string {
  const file = join(mkdtempSync(join(folder, "project-")), "baton.yaml");
  writeFileSync(file, text);
  return file;
}

const errorOf = (file: string): string => {
  try {
    readProject(file);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${file} was read without an error`);
};

describe("baton.yaml", () => {
  it("reads several deployments with their schedules, parameters and active flags", () => {
    const file = project(`deployments:
  - name: nightly
    entrypoint: flows.ts:hello
    workPool: local
    workQueue: fast
    parameters: { name: Ada }
    jobVariables: { env: { A: "1" } }
    tags: [a, b]
    concurrencyLimit: 2
    collisionStrategy: CANCEL_NEW
    runRetentionDays: 30
    schedules:
      - cron: "0 9 * * *"
        timezone: Europe/Paris
        parameters: { name: Grace }
      - interval: 3600
        active: false
  - name: adhoc
    entrypoint: flows.ts:hello
    workPool: local
`);
    const { dir, deployments } = readProject(file);
    expect(dir).toBe(join(file, ".."));
    expect(deployments).toEqual([
      {
        name: "nightly",
        entrypoint: "flows.ts:hello",
        workPool: "local",
        workQueue: "fast",
        parameters: { name: "Ada" },
        jobVariables: { env: { A: "1" } },
        tags: ["a", "b"],
        concurrencyLimit: 2,
        collisionStrategy: "CANCEL_NEW",
        runRetentionDays: 30,
        schedules: [
          { cron: "0 9 * * *", timezone: "Europe/Paris", parameters: { name: "Grace" } },
          { interval: 3600, timezone: "UTC", active: false },
        ],
        // None listed: deploying removes the deployment's triggers, as the file says it has none.
        triggers: [],
      },
      { name: "adhoc", entrypoint: "flows.ts:hello", workPool: "local", triggers: [] },
    ]);
  });

  it("gives each deployment the file's pull steps unless it has its own (none, with an empty list)", () => {
    const file = project(`pull:
  - step: git_clone
    repository: https://example.com/acme/flows.git
    branch: main
  - { step: run_shell_script, script: npm ci }
deployments:
  - { name: shared, entrypoint: flows.ts:hello, workPool: local }
  - name: own
    entrypoint: flows.ts:hello
    workPool: local
    pull:
      - { step: git_clone, repository: "https://example.com/acme/other.git", commit: 0123abcd }
      - { step: set_working_directory, directory: flows }
  - { name: local, entrypoint: flows.ts:hello, workPool: local, pull: [] }
`);
    const [shared, own, local] = readProject(file).deployments;
    expect(shared!.pullSteps).toEqual([
      { step: "git_clone", repository: "https://example.com/acme/flows.git", branch: "main" },
      { step: "run_shell_script", script: "npm ci" },
    ]);
    expect(own!.pullSteps).toEqual([
      { step: "git_clone", repository: "https://example.com/acme/other.git", commit: "0123abcd" },
      { step: "set_working_directory", directory: "flows" },
    ]);
    expect(local!.pullSteps).toEqual([]);
  });

  it("names the file, the line and the field of a mistake", () => {
    const file = project(`deployments:
  - name: nightly
    entrypoint: flows.ts:hello
    workPool: local
  - name: hourly
    entrypoint: flows.ts:hello
    workPool: local
    schedules:
      - interval: 60
      - cron: "0 25 * * *"
`);
    const shown = relative(process.cwd(), file);
    expect(errorOf(file)).toMatch(
      new RegExp(
        `^${shown}:10: deployments\\[1\\]\\.schedules\\[1\\]\\.cron: invalid cron expression '0 25 \\* \\* \\*': `,
      ),
    );
  });

  it.each([
    [
      "a missing field, on its parent's line",
      "deployments:\n  - name: a\n    workPool: local\n",
      ":2: deployments[0].entrypoint: is required",
    ],
    [
      "an unknown field, on its own line",
      "deployments:\n  - name: a\n    entrypoint: f.ts:a\n    workPool: local\n    pool: local\n",
      ":5: deployments[0].pool: unknown field",
    ],
    [
      "two kinds of schedule at once",
      "deployments:\n  - name: a\n    entrypoint: f.ts:a\n    workPool: local\n    schedules:\n      - cron: '* * * * *'\n        interval: 60\n",
      ":6: deployments[0].schedules[0]: give one of cron, interval and rrule",
    ],
    [
      "an unknown time zone",
      "deployments:\n  - name: a\n    entrypoint: f.ts:a\n    workPool: local\n    schedules:\n      - interval: 60\n        timezone: Mars/Olympus\n",
      ":7: deployments[0].schedules[0].timezone: unknown time zone 'Mars/Olympus'",
    ],
    [
      "a value of the wrong type",
      "deployments:\n  - name: a\n    entrypoint: f.ts:a\n    workPool: local\n    concurrencyLimit: many\n",
      ":5: deployments[0].concurrencyLimit: Invalid input: expected number, received string",
    ],
    [
      "a name used twice",
      "deployments:\n  - name: a\n    entrypoint: f.ts:a\n    workPool: local\n  - name: a\n    entrypoint: f.ts:b\n    workPool: local\n",
      ":5: deployments[1].name: 'a' is the name of deployments[0] already",
    ],
    ["no deployments", "deployments: []\n", ":1: deployments: Too small"],
    [
      "a pull step given a branch and a commit",
      "pull:\n  - step: git_clone\n    repository: x\n    branch: main\n    commit: 0123abcd\ndeployments: []\n",
      ":5: pull[0].commit: give branch or commit, not both",
    ],
    ["broken YAML", "deployments:\n  - name: a\n   entrypoint: [\n", ":3: "],
  ])("refuses %s", (_, text, expected) => {
    const file = project(text);
    expect(errorOf(file)).toContain(`${relative(process.cwd(), file)}${expected}`);
  });

  it("says how to start one when there is none", () => {
    expect(errorOf(join(folder, "nowhere", "baton.yaml"))).toMatch(
      /^no .*baton\.yaml: write one \('baton init'/,
    );
  });

  it("is written by baton init, commented, and reads back", () => {
    const dir = join(folder, "init");
    expect(scaffold(dir)).toContain("baton.yaml");
    expect(readProject(join(dir, "baton.yaml")).deployments).toEqual([
      {
        name: "main",
        entrypoint: "flows.ts:hello",
        workPool: "local",
        parameters: { name: "world" },
        schedules: [
          {
            cron: "0 9 * * 1-5",
            timezone: "Europe/Paris",
            parameters: { name: "weekdays" },
            active: false,
          },
        ],
        triggers: [],
      },
    ]);
  });
});
