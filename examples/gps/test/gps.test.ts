import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, isMessage } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FlowRun } from "@baton/core";
import { registerMessages } from "@baton/grpc";
import { getFlowRunResult, runDeployment } from "@baton/sdk";
import { EvaluationService, RequestSchema, ResponseSchema, type Response } from "../src/gen/gps_pb.js";
import { BATON, batonAt, json } from "../../../packages/cli/test/run-baton.js";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";
import { isType, limitSpans, mostAtOnce, waitForEvent, waitForRunState } from "../../../test/runs.js";

// The seed's scenarios, end to end: real Baton server, gRPC servers, worker, CLI and a grpc-js client.
const gps = fileURLToPath(new URL("..", import.meta.url));
const protoPath = fileURLToPath(new URL("../proto/gps.proto", import.meta.url));

interface GrpcResponse {
  latency: number;
  accuracy: number;
  n_params: number;
  timestamp: { seconds: string } | null;
}
type Call = (request: object, options: { deadline?: number }) => Promise<GrpcResponse>;
type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: GrpcResponse) => void,
) => void;

/** A standard gRPC client (grpc-js with the .proto loaded at run time), as any other language would call. */
function grpcClient(port: number): {
  a: Call;
  b: Call;
  cancelled(request: object, cancelWhen: Promise<unknown>): Promise<grpc.ServiceError>;
  close(): void;
} {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    gps: { EvaluationService: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client };
  };
  const client = new loaded.gps.EvaluationService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call =
    (method: string): Call =>
    (request, options) =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, UnaryMethod>)[method]!.bind(client);
        const metadata = new grpc.Metadata();
        metadata.set("x-request-id", "req-42");
        fn(request, metadata, options, (error, response) => (error ? reject(error) : resolve(response)));
      });
  /** Starts a call to EvalFromServerA and cancels it once `cancelWhen` resolves. */
  const cancelled = async (request: object, cancelWhen: Promise<unknown>): Promise<grpc.ServiceError> => {
    const fn = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>)
      .EvalFromServerA!;
    let answered!: (error: grpc.ServiceError) => void;
    const error = new Promise<grpc.ServiceError>((resolve) => (answered = resolve));
    const call = fn.call(client, request, (e: grpc.ServiceError) => answered(e));
    await cancelWhen;
    call.cancel();
    return error;
  };
  return {
    a: call("EvalFromServerA"),
    b: call("EvalFromServerB"),
    cancelled,
    close: () => client.close(),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const request = {
  model_info: { model_registry_urls: ["registry://m1"], task: "classification" },
  data_info: { object_storage_urls: ["s3://bucket/a", "s3://bucket/b"], dataset: "b" },
  author: "ada",
  device: "cpu",
};

describe("examples/gps: the seed's scenarios", () => {
  let server: TestServer;
  let baton: ReturnType<typeof batonAt>;
  const processes: TestProcess[] = [];
  const api = () => server.client.api;
  const start = (script: string, env: Record<string, string> = {}) => {
    // As its npm script runs it: the built packages, TypeScript through tsx.
    const child = startProcess(["--import", "tsx", `src/${script}`], {
      built: true,
      cwd: gps,
      env: { BATON_API_URL: server.apiUrl, GPS_SLEEP_SCALE: "0.01", ...env },
    });
    processes.push(child);
    return child;
  };

  beforeAll(async () => {
    server = await startTestServer("sqlite");
    baton = batonAt(server.apiUrl);
    registerMessages(ResponseSchema);
    process.env.BATON_API_URL = server.apiUrl;
    expect((await baton("concurrency-limit", "create", "db-lock", "1")).code).toBe(0);
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    await Promise.all(processes.map((child) => child.stop()));
    await server.stop();
  });

  it("scenario 1: server A answers a gRPC call by running server-a-flow inline, tracked", async () => {
    const port = await freePort();
    await start("server-a.ts", { GPS_PORT: String(port) }).waitForLine(/^server A: gRPC on/);
    const client = grpcClient(port);
    try {
      const response = await client.a(request, { deadline: Date.now() + 20_000 });
      expect(response.latency).toBeGreaterThan(0);
      expect(response.accuracy).toBeCloseTo(0.93);
      expect(Number(response.timestamp?.seconds)).toBeGreaterThan(1_700_000_000);
      const runs = (await api().listFlowRuns({ query: { flowName: "server-a-flow" } })).items;
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({
        state: { type: "COMPLETED" },
        labels: { "grpc.method": "gps.EvaluationService/EvalFromServerA" },
        parameters: { request: { author: "ada", data_info: { dataset: "b" } } },
      });
      // Each URL was a subflow.
      const downloads = (await api().listFlowRuns({ query: { flowName: "download" } })).items;
      expect(downloads).toHaveLength(3);

      const unimplemented = await client.b(request, {}).catch((error: grpc.ServiceError) => error);
      expect((unimplemented as grpc.ServiceError).code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  it("a deadline shorter than the flow ends the call with DEADLINE_EXCEEDED and the run TimedOut", async () => {
    const port = await freePort();
    await start("server-a.ts", { GPS_PORT: String(port), GPS_SLEEP_SCALE: "1" }).waitForLine(/^server A/);
    const client = grpcClient(port);
    try {
      const error = await client
        .a(request, { deadline: Date.now() + 500 })
        .catch((e: grpc.ServiceError) => e);
      expect((error as grpc.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
      const [run] = (
        await api().listFlowRuns({
          query: { flowName: "server-a-flow", stateType: ["RUNNING", "FAILED", "CANCELLED"] },
        })
      ).items;
      const ended = await waitForRunState(server.client, run!.id, isType("FAILED", "CANCELLED", "COMPLETED"));
      expect(ended.state?.name).toBe("TimedOut");
    } finally {
      client.close();
    }
  });

  it("a client that cancels its call cancels the run; gRPC-Web and Connect clients reach the same method", async () => {
    const port = await freePort();
    await start("server-a.ts", { GPS_PORT: String(port), GPS_SLEEP_SCALE: "1" }).waitForLine(/^server A/);
    const client = grpcClient(port);
    try {
      // The call's run, once it is RUNNING (its subflows are runs too: the flow's name tells).
      let call!: Promise<grpc.ServiceError>;
      const running = waitForEvent(
        server.client,
        ["flow-run.state-changed"],
        async (event) => {
          if ((event.payload.state as { type?: string }).type !== "RUNNING") return false;
          const run = await api().readFlowRun({ params: { id: event.resource.id } });
          return run.flowName === "server-a-flow";
        },
        // The call starts once the stream is open, so its RUNNING event cannot be missed.
        () => {
          call = client.cancelled({ ...request, author: "canceller" }, running);
        },
      ).then((event) => api().readFlowRun({ params: { id: event.resource.id } }));
      const run = await running;
      const error = await call;
      expect(error.code).toBe(grpc.status.CANCELLED);
      const ended = await waitForRunState(server.client, run.id, isType("CANCELLED", "FAILED", "COMPLETED"));
      expect(ended.state?.type).toBe("CANCELLED");
    } finally {
      client.close();
    }

    const quick = await freePort();
    await start("server-a.ts", { GPS_PORT: String(quick) }).waitForLine(/^server A/);
    const baseUrl = `http://127.0.0.1:${quick}`;
    for (const transport of [
      createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
      createConnectTransport({ baseUrl, httpVersion: "2" }),
    ]) {
      const response = await createClient(EvaluationService, transport).evalFromServerA(
        create(RequestSchema, {}),
      );
      expect(isMessage(response, ResponseSchema)).toBe(true);
      expect(response.accuracy).toBeCloseTo(0.93);
    }
  });

  it("scenario 2: server B's served flow runs from gRPC, from code and from the CLI, typed every time", async () => {
    const port = await freePort();
    await start("server-b.ts", { GPS_PORT: String(port) }).waitForLine(/^server B: gRPC on/);
    const client = grpcClient(port);
    try {
      // Two calls at once: their db-write tasks (tag db-lock, limit 1) never overlap.
      const [first, second] = await Promise.all([client.b(request, {}), client.b(request, {})]);
      for (const response of [first, second]) {
        expect(response).toMatchObject({ latency: 5, accuracy: 1, n_params: 2_000_000 });
      }
      const viaGrpc = (await api().listFlowRuns({ query: { flowName: "server-b-flow" } })).items;
      expect(viaGrpc[0]?.labels).toMatchObject({ "grpc.metadata.x-request-id": "req-42" });
      const writes = (await api().listTaskRuns({ query: { flowRunId: viaGrpc[0]!.id } })).items;
      expect(writes.map((task) => task.name)).toContain("db-write-0");

      const fromCode = await runDeployment("server-b-flow/server-b", {
        parameters: { data_info: { objectStorageUrls: ["s3://x"], dataset: "camel" } },
      });
      const typed = await getFlowRunResult<Response>(fromCode.id);
      expect(isMessage(typed, ResponseSchema)).toBe(true);
      expect(typed.nParams).toBe(2_000_000);

      const cli = await baton(
        "deployment",
        "run",
        "server-b-flow/server-b",
        "--param",
        'data_info={"object_storage_urls": ["a"], "dataset": "b"}',
        "--watch",
      );
      expect(cli.code).toBe(0);
      expect(cli.stdout).toMatch(/"n_params":2000000/);

      const wrongType = await baton(
        "deployment",
        "run",
        "server-b-flow/server-b",
        "--param",
        'data_info={"object_storage_urls": "a"}',
      );
      expect(wrongType.code).toBe(1);
      expect(wrongType.stderr).toMatch(/data_info\.object_storage_urls must be array/);
      const unknownField = await baton(
        "deployment",
        "run",
        "server-b-flow/server-b",
        "--param",
        'data_info={"datasets": "b"}',
      );
      expect(unknownField.stderr).toMatch(/data_info\.datasets is not a field there/);
    } finally {
      client.close();
    }
  });

  it("scenario 3: lock-pool's priority queue runs server-a-flow one run at a time in a worker", async () => {
    expect((await baton("work-pool", "create", "lock-pool", "--type", "process")).code).toBe(0);
    expect(
      (
        await baton(
          "work-queue",
          "create",
          "priority",
          "--pool",
          "lock-pool",
          "--priority",
          "2",
          "--limit",
          "1",
        )
      ).code,
    ).toBe(0);
    expect(
      (await baton("work-queue", "create", "minority", "--pool", "lock-pool", "--priority", "3")).code,
    ).toBe(0);
    const deploy = start("deploy-a.ts");
    expect(await deploy.exited).toBe(0);
    const worker = startProcess(
      [BATON, "worker", "start", "--pool", "lock-pool", "--work-queue", "priority", "--name", "hard-worker"],
      { built: true, cwd: gps, env: { BATON_API_URL: server.apiUrl, GPS_SLEEP_SCALE: "0.01" } },
    );
    processes.push(worker);
    await worker.waitForLine(/^Worker 'hard-worker' started/);

    const runs = await Promise.all(
      [1, 2, 3].map(async (i) =>
        json<FlowRun>(
          await baton(
            "deployment",
            "run",
            "server-a-flow/server-a",
            "--params",
            JSON.stringify({ request: { ...request, author: `run-${i}` } }),
            "--json",
          ),
        ),
      ),
    );
    const finished = await Promise.all(
      runs.map((run) => waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"))),
    );
    expect(finished.map((run) => run.state?.type)).toEqual(["COMPLETED", "COMPLETED", "COMPLETED"]);
    expect(finished.map((run) => run.workerName)).toEqual(["hard-worker", "hard-worker", "hard-worker"]);
    const spans = await limitSpans(server.client, finished);
    expect(mostAtOnce(spans)).toBe(1);
    const result = await getFlowRunResult<Response>(finished[0]!.id);
    expect(isMessage(result, ResponseSchema)).toBe(true);
  });
});
