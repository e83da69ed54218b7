/** A process's flow-run proposals go out together when they meet (flowRunProposals), each answered on its own. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient } from "@baton/client";
import { BatonError, newId, type SetStateResult } from "@baton/core";
import { flowRunProposals } from "../src/proposals.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("flow-run proposals sent together on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { maxResultBytes: 1_000 });
  });
  afterAll(async () => {
    await server.stop();
  });

  const running = async () => {
    const run = await server.client.api.createFlowRun({
      body: { flowName: "together", state: { type: "PENDING" } },
    });
    await server.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    return run.id;
  };
  /** How many state proposals the server has answered, alone and together, from its metrics. */
  const calls = async () => {
    const metrics = await (await fetch(`${server.apiUrl}/metrics`)).text();
    const count = (route: string) =>
      metrics
        .split("\n")
        .filter(
          (line) => line.startsWith("baton_http_request_duration_seconds_count{") && line.includes(route),
        )
        .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
    return {
      alone: count(`route="/api/flow-runs/:id/state"`),
      together: count(`route="/api/flow-runs/states"`),
    };
  };
  const outcome = (settled: PromiseSettledResult<SetStateResult>) =>
    settled.status === "fulfilled"
      ? settled.value.status
      : settled.reason instanceof BatonError
        ? settled.reason.code
        : String(settled.reason);

  it("sends the proposals made while one is on its way in one call; a missing run fails only its own", async () => {
    const proposals = flowRunProposals(new BatonClient({ url: server.apiUrl }));
    const [first, second, third] = [await running(), await running(), await running()];
    const before = await calls();
    const answers = await Promise.allSettled([
      proposals.propose({ id: first, state: { type: "COMPLETED" } }),
      proposals.propose({ id: second, state: { type: "COMPLETED" } }),
      proposals.propose({ id: newId(), state: { type: "COMPLETED" } }),
      proposals.propose({ id: third, state: { type: "FAILED", message: "boom" } }),
    ]);
    expect(answers.map(outcome)).toEqual(["ACCEPT", "ACCEPT", "not_found", "ACCEPT"]);
    const after = await calls();
    // The first went alone, at once; the three made while it was on its way, in one call.
    expect([after.alone - before.alone, after.together - before.together]).toEqual([1, 1]);
    const read = async (id: string) => (await server.client.api.readFlowRun({ params: { id } })).state?.type;
    expect([await read(first), await read(second), await read(third)]).toEqual([
      "COMPLETED",
      "COMPLETED",
      "FAILED",
    ]);
  });

  it("sends each alone when the server refuses the call as a whole, so one too large fails only itself", async () => {
    const proposals = flowRunProposals(new BatonClient({ url: server.apiUrl }));
    const [first, second, third] = [await running(), await running(), await running()];
    const large = { kind: "inline" as const, serializer: "json", value: "x".repeat(2_000) };
    const before = await calls();
    const answers = await Promise.allSettled([
      proposals.propose({ id: first, state: { type: "COMPLETED" } }),
      proposals.propose({ id: second, state: { type: "COMPLETED", data: large } }),
      proposals.propose({ id: third, state: { type: "COMPLETED" } }),
    ]);
    expect(answers.map(outcome)).toEqual(["ACCEPT", "invalid_argument", "ACCEPT"]);
    expect((answers[1] as PromiseRejectedResult).reason).toMatchObject({
      message: expect.stringMatching(
        /state\.data is 20\d\d bytes, over the server's limit of 1000 bytes/,
      ) as string,
    });
    const after = await calls();
    // Alone, together (refused: 413), then the two that were together, each alone.
    expect([after.alone - before.alone, after.together - before.together]).toEqual([3, 1]);
  });
});

describe("flow-run proposals against a server without the call of several (an older one)", () => {
  it("sends each proposal of a refused call alone, and each gets its own verdict", async () => {
    const alone: string[] = [];
    // Knows only the lone proposal: a call of several is an unknown operation, as on an older server.
    const server = createServer((request, response) => {
      request.resume().on("end", () => {
        const url = request.url ?? "";
        if (url.endsWith("/flow-runs/states")) {
          const problem = new BatonError("not_found", `no operation POST ${url}`).toProblem();
          response.writeHead(404, { "content-type": "application/problem+json" });
          response.end(JSON.stringify(problem));
          return;
        }
        alone.push(url.split("/").at(-2)!);
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify({ status: "ACCEPT", reason: url, state: null }));
      });
    });
    server.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const proposals = flowRunProposals(new BatonClient({ url: `http://127.0.0.1:${port}/api` }));
      const ids = [newId(), newId(), newId()];
      const answers = await Promise.all(
        ids.map((id) => proposals.propose({ id, state: { type: "COMPLETED" } })),
      );
      // Each answered by its own call: the first at once, the two made meanwhile after the refusal.
      expect(answers.map((answer) => answer.reason)).toEqual(ids.map((id) => `/api/flow-runs/${id}/state`));
      expect(alone).toEqual(ids);
    } finally {
      server.close();
    }
  });
});

describe("flow-run proposals against a server that answers a call in another shape", () => {
  it("settles every proposal of that call, and sends those made after it", async () => {
    const verdict = { status: "ACCEPT", reason: "ok", state: null };
    // Answers a lone proposal with its verdict and a call of several with no results at all.
    const server = createServer((request, response) => {
      request.resume().on("end", () => {
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify(request.url?.endsWith("/flow-runs/states") ? {} : verdict));
      });
    });
    server.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const proposals = flowRunProposals(new BatonClient({ url: `http://127.0.0.1:${port}/api` }));
      const first = [newId(), newId(), newId()].map((id) =>
        proposals.propose({ id, state: { type: "COMPLETED" } }),
      );
      const answers = await Promise.allSettled(first);
      expect(answers.map((answer) => answer.status)).toEqual(["fulfilled", "rejected", "rejected"]);
      expect((answers[1] as PromiseRejectedResult).reason).toMatchObject({
        code: "internal",
        message: "the server answered 0 of 2 proposals",
      });
      // Not stuck: a proposal made afterwards is sent and answered.
      expect(await proposals.propose({ id: newId(), state: { type: "COMPLETED" } })).toEqual(verdict);
    } finally {
      server.close();
    }
  });
});
