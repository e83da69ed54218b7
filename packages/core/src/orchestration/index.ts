export * from "./types.js";
export * from "./rules.js";
export * from "./orchestrate.js";
export * from "./admission.js";
export * from "./global-slots.js";
