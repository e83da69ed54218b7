/** An automation's status, and the buttons that pause, resume and delete it (lists and its page). */
import type { Automation } from "@baton/core";
import { useAction } from "./api.js";
import { Badge, ConfirmButton, InlineError } from "./components.js";

export function EnabledBadge({ enabled }: { enabled: boolean }) {
  return enabled ? <Badge tone="ok">Enabled</Badge> : <Badge tone="warn">Paused</Badge>;
}

/**
 * Pause or resume (PATCH `enabled`); either way the automation counts afresh from now. Delete asks
 * first: its action runs go with it. `onDeleted` runs after a delete, `onChanged` after the others.
 */
export function AutomationControls({
  automation,
  small = false,
  onChanged,
  onDeleted = onChanged,
}: {
  automation: Automation;
  small?: boolean;
  onChanged: () => void;
  onDeleted?: () => void;
}) {
  const action = useAction();
  const { id, name, enabled } = automation;
  const verb = enabled ? "Pause" : "Resume";
  async function toggle(): Promise<void> {
    const done = await action.run("toggle", (client) =>
      client.api.updateAutomation({ params: { id }, body: { enabled: !enabled } }),
    );
    if (done) onChanged();
  }
  async function remove(): Promise<void> {
    const done = await action.run("delete", (client) => client.api.deleteAutomation({ params: { id } }));
    if (done) onDeleted();
  }
  return (
    <>
      <button
        type="button"
        className={`button${small ? " small" : ""}`}
        aria-label={`${verb} ${name}`}
        disabled={action.busy !== null}
        onClick={() => void toggle()}
      >
        {action.busy === "toggle" ? `${verb}…` : verb}
      </button>
      <ConfirmButton
        label="Delete"
        question={`Delete ${name} and its action runs?`}
        confirmLabel="Yes, delete"
        small={small}
        busy={action.busy === "delete"}
        disabled={action.busy !== null}
        onConfirm={() => void remove()}
      />
      <InlineError error={action.error} />
    </>
  );
}
