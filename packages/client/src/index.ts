export { BatonClient, type ClientOptions, type ApiMethods } from "./client.js";
export { readEventStream } from "./events.js";
