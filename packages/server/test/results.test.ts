import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId, type ResultReference } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { failure } from "../../../test/runs.js";
import { MAX_SHOWN_RESULT_BYTES } from "../src/store/results.js";

describe.each(DIALECTS)("run results read by the server on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => {
    await server.stop();
  });
  const api = () => server.client.api;

  /** What the SDK's local result storage does: a file under the server's BATON_HOME/results. */
  function storeLocally(content: string | Buffer, key = `${newId()}.json`): string {
    const directory = join(server.settings.home, "results");
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, key), content);
    return key;
  }

  /** A flow run completed with this result reference. */
  async function completedWith(data: ResultReference): Promise<string> {
    const run = await api().createFlowRun({ body: { flowName: "results", state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "COMPLETED", data } } });
    return run.id;
  }

  const stored = (key: string, more: Partial<ResultReference> = {}): ResultReference =>
    ({ kind: "stored", serializer: "json", storage: "local", key, ...more }) as ResultReference;

  it("answers inline results, and results stored as JSON in local storage on this machine", async () => {
    const inline = await completedWith({ kind: "inline", serializer: "json", value: { rows: 3 } });
    expect(await api().readFlowRunResult({ params: { id: inline } })).toEqual({
      value: { rows: 3 },
      serializer: "json",
    });

    const key = storeLocally(JSON.stringify({ report: ["a", "b"], total: 2 }));
    const id = await completedWith(stored(key, { typeName: "Report" }));
    expect(await api().readFlowRunResult({ params: { id } })).toEqual({
      value: { report: ["a", "b"], total: 2 },
      serializer: "json",
      typeName: "Report",
    });
  });

  it("says why it cannot show a result, and reads no file outside the results folder", async () => {
    const reason = async (data: ResultReference) => {
      const error = await failure(api().readFlowRunResult({ params: { id: await completedWith(data) } }));
      return `${error.code}: ${error.message}`;
    };
    expect(await reason(stored("gone.json"))).toMatch(
      /^not_found: the result of flow run \S+ is not in the server's BATON_HOME\/results: the process that ran it kept it on another machine or under another BATON_HOME; load it in code with getFlowRunResult\(\)/,
    );
    expect(await reason(stored("a.json", { storage: "s3" }))).toContain(
      "is in 's3' result storage, which the server does not read",
    );
    expect(await reason(stored("a.pickle", { serializer: "protobuf" }))).toContain(
      "was written by the 'protobuf' serializer, which the server does not know",
    );
    storeLocally("not json", "broken.json");
    expect(await reason(stored("broken.json"))).toContain("is not valid JSON");
    storeLocally(Buffer.alloc(MAX_SHOWN_RESULT_BYTES + 1, 32), "huge.json");
    expect(await reason(stored("huge.json"))).toContain("is larger than 4 MiB, too large to show");
    // A reference is written by whoever proposes the state: a path in it is refused, not followed.
    for (const key of ["../../../../etc/passwd", "..", "/etc/passwd", "sub/file.json", "a\\b.json"]) {
      expect(await reason(stored(key))).toMatch(
        /^invalid_argument: the result key of flow run \S+ is not a file name/,
      );
    }

    const running = await api().createFlowRun({ body: { flowName: "results", state: { type: "PENDING" } } });
    expect((await failure(api().readFlowRunResult({ params: { id: running.id } }))).message).toBe(
      `flow run ${running.id} has no result (yet)`,
    );
    const missing = await failure(api().readFlowRunResult({ params: { id: newId() } }));
    expect(missing.code).toBe("not_found");
  });
});
