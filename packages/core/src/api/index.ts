export * from "./common.js";
export * from "./models.js";
export * from "./artifacts.js";
export * from "./automations.js";
export * from "./global-concurrency.js";
export * from "./route.js";
export * from "./routes.js";
export * from "./webhooks.js";
