// Scenario 2: one process serves server-b-flow as a deployment and answers EvalFromServerB by
// creating a run of it; the same deployment runs from code, the CLI and the dashboard.
//   npm run server-b -w gps-example      (gRPC on GPS_PORT, default 50052)
import { flowMethods, startGrpcServer } from "@baton/grpc";
import { serve } from "@baton/sdk";
import { EvaluationService, type Request } from "./gen/gps_pb.js";
import { serverBFlow } from "./flows.js";
import { grpcPort } from "./settings.js";

const server = await startGrpcServer({
  port: grpcPort(50052),
  routes: (router) =>
    router.service(
      EvaluationService,
      flowMethods(EvaluationService, {
        evalFromServerB: {
          deployment: "server-b-flow/server-b",
          // Server B evaluates the request's data only.
          parameters: (request: Request) => ({ data_info: request.dataInfo }),
          labelsFromMetadata: ["x-request-id"],
        },
      }),
    ),
});
await serve([serverBFlow.toDeployment({ name: "server-b" })], {
  onReady: () => console.log(`server B: gRPC on 127.0.0.1:${server.port}; serving 'server-b-flow/server-b'`),
});
await server.close();
