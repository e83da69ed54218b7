import { InvalidArgumentError } from "commander";
import { DeploymentTrigger, type DeploymentTriggerInput } from "@baton/core";

/**
 * `--trigger`: an event's name (`shop.order-placed`: run on each), or a deployment trigger as JSON
 * (`{"events": ["github.push"], "parameters": {"ref": "{{ event.payload.ref }}"}}`), checked here so
 * that a mistake names its field before anything is deployed.
 */
export function parseTrigger(value: string): DeploymentTriggerInput {
  let input: unknown = { events: [value] };
  if (value.trimStart().startsWith("{")) {
    try {
      input = JSON.parse(value);
    } catch (error) {
      throw new InvalidArgumentError(
        `it is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  const parsed = DeploymentTrigger.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new InvalidArgumentError(`${field}${issue.message}`);
  }
  return input as DeploymentTriggerInput;
}
