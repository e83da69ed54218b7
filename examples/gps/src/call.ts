// Calls a server's method with a Connect gRPC client: npm run call -w gps-example -- a|b [port]
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EvaluationService, RequestSchema } from "./gen/gps_pb.js";

const [which = "a", port = which === "a" ? "50051" : "50052"] = process.argv.slice(2);
const client = createClient(EvaluationService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
const request = create(RequestSchema, {
  modelInfo: { modelRegistryUrls: ["registry://model-1"], task: "classification" },
  dataInfo: { objectStorageUrls: ["s3://bucket/a", "s3://bucket/b"], dataset: "b" },
  author: "ada",
  device: "cpu",
});
const response =
  which === "a" ? await client.evalFromServerA(request) : await client.evalFromServerB(request);
console.log(
  JSON.stringify({ latency: response.latency, accuracy: response.accuracy, nParams: response.nParams }),
);
