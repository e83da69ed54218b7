// Runs server-b-flow's deployment from code with JSON parameters; the typed Response comes back.
//   npm run run-b -w gps-example
import { getFlowRunResult, runDeployment } from "@baton/sdk";
import { registerMessages } from "@baton/grpc";
import { ResponseSchema, type Response } from "./gen/gps_pb.js";

registerMessages(ResponseSchema);
const run = await runDeployment("server-b-flow/server-b", {
  parameters: { data_info: { object_storage_urls: ["s3://bucket/a"], dataset: "b" } },
});
const response = await getFlowRunResult<Response>(run.id);
console.log(
  `${run.name}: ${run.state?.name}; ${response.$typeName} n_params=${response.nParams} accuracy=${response.accuracy}`,
);
