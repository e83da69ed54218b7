import { BatonError } from "./errors.js";

/** Splits `<flow name>/<deployment name>`, the way deployments are addressed everywhere (as in Prefect). */
export function parseDeploymentName(name: string): { flowName: string; deploymentName: string } {
  const slash = name.indexOf("/");
  if (slash <= 0 || slash === name.length - 1 || name.indexOf("/", slash + 1) !== -1) {
    throw new BatonError(
      "invalid_argument",
      `'${name}' is not a deployment name: write it as <flow name>/<deployment name>`,
    );
  }
  return { flowName: name.slice(0, slash), deploymentName: name.slice(slash + 1) };
}
