export { message, registerMessages, protobufSerializer } from "./messages.js";
export { messageJsonSchema } from "./json-schema.js";
export { flowMethods, type MethodBinding, type InlineBinding, type DeploymentBinding } from "./service.js";
export { startGrpcServer, type GrpcServer } from "./server.js";
