// Scenario 3: server-a-flow deployed to the lock-pool's priority queue; a worker runs each run in a
// process of its own, one at a time (the queue's limit is 1).
//   npm run deploy-a -w gps-example
import { serverAFlow } from "./flows.js";

const deployment = await serverAFlow.deploy({
  name: "server-a",
  workPool: "lock-pool",
  workQueue: "priority",
});
console.log(
  `deployed ${deployment.flowName}/${deployment.name} (${deployment.entrypoint}) to lock-pool/priority`,
);
