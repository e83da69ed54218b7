import { open } from "node:fs/promises";
import { join } from "node:path";
import { BatonError, notFound, type RunResult, type State } from "@baton/core";
import { fromJson, type StoreContext } from "./context.js";

/** The largest stored result the server reads for the dashboard; bigger ones are for code to load. */
export const MAX_SHOWN_RESULT_BYTES = 4 * 1024 * 1024;

/** A key the SDK's local storage writes: `<id>.<serializer>`, one file name, never a path. */
const LOCAL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * A finished run's result (or the error it failed with) as JSON, for the dashboard: inline in its
 * state, or stored by the SDK's local result storage (BATON_HOME/results) on this machine and written
 * as JSON. Results in other storage, or written by other serializers, are read by code that registers
 * them (getFlowRunResult); the answer says so.
 */
export async function readRunResult(
  ctx: StoreContext,
  kind: "flow" | "task",
  id: string,
): Promise<RunResult> {
  const what = kind === "flow" ? "flow run" : "task run";
  const row = await ctx.db.kysely
    .selectFrom(kind === "flow" ? "flowRuns" : "taskRuns")
    .select("state")
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound(what, id);
  const data = fromJson<State | null>(row.state, null)?.data;
  if (!data) throw new BatonError("not_found", `${what} ${id} has no result (yet)`);
  const typeName = data.typeName ? { typeName: data.typeName } : {};
  if (data.kind === "inline") return { value: data.value, serializer: data.serializer, ...typeName };

  const elsewhere = `load it in code with getFlowRunResult() where its storage and serializer are registered`;
  if (data.storage !== "local" || !ctx.resultsDirectory) {
    throw new BatonError(
      "not_found",
      `the result of ${what} ${id} is in '${data.storage}' result storage, which the server does not read: ${elsewhere}`,
    );
  }
  if (data.serializer !== "json") {
    throw new BatonError(
      "not_found",
      `the result of ${what} ${id} was written by the '${data.serializer}' serializer, which the server does not know: ${elsewhere}`,
    );
  }
  if (!LOCAL_KEY.test(data.key) || data.key.includes("..")) {
    throw new BatonError(
      "invalid_argument",
      `the result key of ${what} ${id} is not a file name the SDK writes`,
    );
  }
  const bytes = await readLimited(join(ctx.resultsDirectory, data.key), MAX_SHOWN_RESULT_BYTES).catch(
    (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      throw new BatonError(
        "not_found",
        `the result of ${what} ${id} is not in the server's BATON_HOME/results: the process that ran it ` +
          `kept it on another machine or under another BATON_HOME; ${elsewhere}`,
      );
    },
  );
  if (bytes === null) {
    throw new BatonError(
      "not_found",
      `the result of ${what} ${id} is larger than ${MAX_SHOWN_RESULT_BYTES / 1024 / 1024} MiB, too large to show: ${elsewhere}`,
    );
  }
  try {
    return {
      value: JSON.parse(bytes.toString("utf8")) as RunResult["value"],
      serializer: "json",
      ...typeName,
    };
  } catch {
    throw new BatonError("not_found", `the stored result of ${what} ${id} is not valid JSON: ${elsewhere}`);
  }
}

/** The file's bytes, or null when it is larger than `limit` (read no further than that). */
async function readLimited(path: string, limit: number): Promise<Buffer | null> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    if (size > limit) return null;
    return await file.readFile();
  } finally {
    await file.close();
  }
}
