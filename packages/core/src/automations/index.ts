export * from "./actions.js";
export * from "./templates.js";
export * from "./triggers.js";
export * from "./metrics.js";
