export { startServer, findDashboard, VERSION, type RunningServer } from "./server.js";
export { serverSettings, type ServerSettings } from "./settings.js";
export { buildApp, type AppOptions, type LogStream } from "./api/app.js";
export { openDatabase, migrateToLatest, resetDatabase, type Db, type Dialect } from "./db/database.js";
export { EventBus } from "./events.js";
export type { StoreContext } from "./store/context.js";
export { setRunState, setRunStates } from "./store/set-state.js";
export { checkSchedule } from "./services/schedules.js";
export {
  generateSecretsKey,
  loadSecretsKey,
  parseSecretsKey,
  replaceKeyFile,
  secretsKeyFile,
  type SecretsKey,
} from "./secrets-key.js";
export { rotateSecretsKey } from "./store/secrets.js";
