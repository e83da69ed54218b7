import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { z } from "zod";
import {
  BatonError,
  COLLISION_STRATEGIES,
  DeploymentTrigger,
  JsonObject,
  MAX_DEPLOYMENT_TRIGGERS,
  Name,
  PullStep,
  PullSteps,
  Tags,
} from "@baton/core";
import type { Schedule } from "@baton/sdk";
import { checkSchedule } from "@baton/server";
import { scheduleOf } from "./schedules.js";

/** The file `baton deploy --all` and `baton deploy NAME` read, at a project's root. */
export const BATON_YAML = "baton.yaml";

/**
 * A schedule as written in baton.yaml: the fields of `baton deploy`'s schedule options, checked by
 * the same rules (one of cron, interval and rrule; a cron expression, RRULE and time zone the server
 * takes), with its own parameters and active flag.
 */
const ScheduleEntry = z
  .strictObject({
    cron: z.string().min(1).optional(),
    interval: z.number().positive().optional(),
    rrule: z.string().min(1).optional(),
    timezone: z.string().min(1).optional(),
    parameters: JsonObject.optional(),
    active: z.boolean().optional(),
  })
  .transform(({ parameters, active, ...options }, context): Schedule => {
    let spec;
    try {
      spec = scheduleOf(options, (field) => field);
    } catch (error) {
      context.addIssue({ code: "custom", message: BatonError.from(error).message });
      return z.NEVER;
    }
    if (!spec) {
      context.addIssue({ code: "custom", message: "give one of cron, interval and rrule" });
      return z.NEVER;
    }
    const problem = checkSchedule(spec);
    if (problem) {
      const field = problem.startsWith("unknown time zone") ? "timezone" : Object.keys(spec)[0]!;
      context.addIssue({ code: "custom", message: problem, path: [field] });
      return z.NEVER;
    }
    return { ...spec, ...(parameters ? { parameters } : {}), ...(active !== undefined ? { active } : {}) };
  });

/** One deployment: what `baton deploy ENTRYPOINT` takes as flags, under the SDK's deploy() names. */
const DeploymentEntry = z.strictObject({
  name: Name,
  /** `path/to/module.ts:exportName`, relative to the folder of baton.yaml. */
  entrypoint: z.string().min(1),
  description: z.string().max(10_000).optional(),
  workPool: Name,
  workQueue: Name.optional(),
  parameters: JsonObject.optional(),
  jobVariables: JsonObject.optional(),
  tags: Tags.optional(),
  concurrencyLimit: z.number().int().positive().optional(),
  collisionStrategy: z.enum(COLLISION_STRATEGIES).optional(),
  runRetentionDays: z.number().positive().max(36_500).optional(),
  schedules: z.array(ScheduleEntry).optional(),
  /** Steps a worker takes to get the code before each run; the file's own `pull` when left out. */
  pull: PullSteps.optional(),
  /**
   * Events that start a run, with parameters from the event: all of the deployment's triggers, so
   * one taken out of the file is removed on the next deploy.
   */
  triggers: z
    .array(DeploymentTrigger)
    .max(MAX_DEPLOYMENT_TRIGGERS, `triggers holds at most ${MAX_DEPLOYMENT_TRIGGERS}`)
    .default([]),
});

const BatonYaml = z
  .strictObject({
    /** The pull steps of every deployment that gives none of its own. */
    pull: PullSteps.optional(),
    deployments: z.array(DeploymentEntry).min(1),
  })
  .superRefine(({ deployments }, context) => {
    deployments.forEach(({ name }, index) => {
      const first = deployments.findIndex((other) => other.name === name);
      if (first < index) {
        context.addIssue({
          code: "custom",
          message: `'${name}' is the name of deployments[${first}] already: \`baton deploy NAME\` picks one by its name`,
          path: ["deployments", index, "name"],
        });
      }
    });
  });

/** A deployment of baton.yaml, with the pull steps it takes (its own, or the file's). */
export type DeploymentEntry = Omit<z.output<typeof DeploymentEntry>, "pull"> & { pullSteps?: PullStep[] };

/** A project's baton.yaml, read and checked. */
export interface Project {
  /**
   * The folder holding baton.yaml: entrypoints are relative to it, and workers run from it unless
   * pull steps get the code elsewhere.
   */
  dir: string;
  deployments: DeploymentEntry[];
}

/**
 * Reads and checks baton.yaml. Every mistake is an error naming the file, the line and the field,
 * as `baton.yaml:12: deployments[1].schedules[0].cron: invalid cron expression '…'`.
 */
export function readProject(file: string): Project {
  const path = resolve(file);
  const shown = relative(process.cwd(), path) || path;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new BatonError(
      "not_found",
      `no ${shown}: write one ('baton init' starts a project with it), or deploy with 'baton deploy ENTRYPOINT --name NAME --pool POOL'`,
    );
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const [syntax] = document.errors;
  if (syntax) {
    const line = syntax.linePos?.[0].line ?? lines.linePos(syntax.pos[0]).line;
    throw new BatonError("invalid_argument", `${shown}:${line}: ${syntax.message.split("\n")[0]}`);
  }
  const parsed = BatonYaml.safeParse(document.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0]!] : issue.path;
    const offset = offsetOf(document, path);
    const where = path.length > 0 ? `${fieldPath(path)}: ` : "";
    const message =
      issue.code === "unrecognized_keys"
        ? "unknown field"
        : /received undefined$/.test(issue.message)
          ? "is required"
          : issue.code === "invalid_union" && path.at(-1) === "step"
            ? `must be one of ${PULL_STEP_KINDS.join(", ")}`
            : issue.message;
    throw new BatonError("invalid_argument", `${shown}:${lines.linePos(offset).line}: ${where}${message}`);
  }
  const deployments = parsed.data.deployments.map(({ pull, ...deployment }) => {
    const pullSteps = pull ?? parsed.data.pull;
    return pullSteps ? { ...deployment, pullSteps } : deployment;
  });
  return { dir: dirname(path), deployments };
}

const PULL_STEP_KINDS = [...PullStep.def.options.map((option) => option.shape.step.value)];

/** `deployments[1].schedules[0].cron`, as a field is named in messages. */
const fieldPath = (path: readonly PropertyKey[]): string =>
  path
    .map((key, index) => (typeof key === "number" ? `[${key}]` : `${index > 0 ? "." : ""}${String(key)}`))
    .join("");

/**
 * Where the field at `path` is written: its key's offset (the line `cron:` is on), or the deepest
 * part of the path that the file has (a missing field is reported on its parent's line).
 */
function offsetOf(document: Document, path: readonly PropertyKey[]): number {
  let node = document.contents;
  let offset = node?.range?.[0] ?? 0;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof key === "number") {
      const item = node.items[key] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}
