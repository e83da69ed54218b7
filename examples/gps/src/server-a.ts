// Scenario 1: server A answers EvalFromServerA by running server-a-flow in this process.
//   npm run server-a -w gps-example      (gRPC on GPS_PORT, default 50051)
import { flowMethods, startGrpcServer } from "@baton/grpc";
import { EvaluationService } from "./gen/gps_pb.js";
import { serverAFlow } from "./flows.js";
import { grpcPort } from "./settings.js";

const server = await startGrpcServer({
  port: grpcPort(50051),
  routes: (router) =>
    router.service(
      EvaluationService,
      flowMethods(EvaluationService, { evalFromServerA: { flow: serverAFlow } }),
    ),
});
console.log(`server A: gRPC on 127.0.0.1:${server.port} (EvalFromServerA runs server-a-flow)`);
const stop = () => void server.close().then(() => process.exit(0));
process.on("SIGINT", stop).on("SIGTERM", stop);
