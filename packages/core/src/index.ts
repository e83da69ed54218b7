export * from "./states.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./orchestration/index.js";
export * from "./automations/index.js";
export * from "./api/index.js";
export * from "./events.js";
export * from "./names.js";
