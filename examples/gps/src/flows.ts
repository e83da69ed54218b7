// The seed's evaluation flows, with their protobuf messages as typed parameters and results.
import { performance } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { z } from "zod";
import { message, registerMessages } from "@baton/grpc";
import { flow, task } from "@baton/sdk";
import { DataInfoSchema, file_gps, RequestSchema, ResponseSchema } from "./gen/gps_pb.js";
import { pause } from "./settings.js";

// The flows return Response messages: every process that writes or reads them knows the types.
registerMessages(file_gps);

/** Fetches one dataset or model: a subflow per URL, as in the seed. */
export const download = flow(
  { name: "download", parameters: { url: z.string() } },
  async ({ url }, { logger, signal }) => {
    logger.info(`downloading ${url}`);
    await pause(1, signal);
    return url;
  },
);

const preprocess = task({ name: "preprocess" }, async (step: number) => {
  await pause(0.5);
  return step;
});

const heavyComputation = task({ name: "heavy-computation" }, async () => {
  await pause(3);
  return 0.93;
});

/** Writes the outcome; `baton concurrency-limit create db-lock 1` makes these run one at a time. */
const dbWrite = task({ name: "db-write", tags: ["db-lock"] }, async (what: string) => {
  await pause(0.5);
  return what;
});

export const serverAFlow = flow(
  { name: "server-a-flow", parameters: { request: message(RequestSchema) } },
  async ({ request }, { logger }) => {
    const started = performance.now();
    logger.info(`evaluating for ${request.author || "someone"} on ${request.device || "a device"}`);
    for (const url of request.dataInfo?.objectStorageUrls ?? []) await download({ url });
    for (const url of request.modelInfo?.modelRegistryUrls ?? []) await download({ url });
    await preprocess(1);
    await preprocess(2);
    const accuracy = await heavyComputation();
    await dbWrite("server-a");
    return create(ResponseSchema, {
      latency: (performance.now() - started) / 1000,
      accuracy,
      timestamp: timestampNow(),
    });
  },
);

export const serverBFlow = flow(
  { name: "server-b-flow", parameters: { data_info: message(DataInfoSchema) } },
  async ({ data_info }) => {
    for (const url of data_info.objectStorageUrls) await download({ url });
    const steps = [1, 2, 3, 4, 5].map((step) => preprocess.submit(step));
    await Promise.all(steps.map((step) => step.result()));
    await dbWrite("server-b");
    return create(ResponseSchema, { latency: 5, accuracy: 1, nParams: 2_000_000, timestamp: timestampNow() });
  },
);
