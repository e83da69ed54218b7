export {
  BatonClient,
  setDefaultTransport,
  type ClientOptions,
  type EventStreamOptions,
  type ApiMethods,
  type Transport,
} from "./client.js";
export { readEventStream } from "./events.js";
