export { program, run } from "./program.js";
