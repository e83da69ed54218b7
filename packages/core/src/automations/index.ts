export * from "./actions.js";
export * from "./templates.js";
export * from "./triggers.js";
