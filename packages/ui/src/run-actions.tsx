import { isTerminal, whyNoRerun, type FlowRun, type StateInput, type StateType } from "@baton/core";
import { useAction } from "./api.js";
import { ConfirmButton, InlineError } from "./components.js";
import { navigate } from "./router.js";

export type Notice = { tone: "info" | "error"; text: string } | null;

/** What to ask for, and which resulting states mean the ask went through. */
interface Proposal {
  state: StateInput;
  reached: StateType[];
  refused: string;
}

const CANCEL: Proposal = {
  state: { type: "CANCELLING", message: "Cancelled from the dashboard" },
  reached: ["CANCELLING", "CANCELLED"],
  refused: "The run was not cancelled",
};

// A finished flow run scheduled again is a rerun: the server starts it over with all its retries.
const RERUN: Proposal = {
  state: { type: "SCHEDULED", message: "Rerun from the dashboard" },
  reached: ["SCHEDULED", "PENDING", "RUNNING"],
  refused: "The run was not scheduled again",
};

function retryTitle(run: FlowRun): string {
  const why = whyNoRerun(run);
  return why
    ? why[0]!.toUpperCase() + why.slice(1)
    : "Run it again: its deployment's worker or serve process picks it up";
}

/** Cancel, Retry (a rerun) and Delete for a flow run; what the server answered goes to `onNotice`. */
export function RunActions({
  run,
  onChanged,
  onNotice,
}: {
  run: FlowRun;
  onChanged: () => void;
  onNotice: (notice: Notice) => void;
}) {
  const action = useAction();
  const stateType = run.state?.type;
  const canCancel = !isTerminal(stateType) && stateType !== "CANCELLING";
  const canRetry = whyNoRerun(run) === null;

  async function propose(name: string, proposal: Proposal): Promise<void> {
    onNotice(null);
    const done = await action.run(name, (client) =>
      client.api.setFlowRunState({ params: { id: run.id }, body: { state: proposal.state } }),
    );
    if (!done) return;
    const result = done.value;
    const type = result.state?.type;
    if (result.status !== "ACCEPT") {
      const reached = type !== undefined && proposal.reached.includes(type);
      onNotice(
        reached
          ? { tone: "info", text: result.reason }
          : { tone: "error", text: `${proposal.refused}: ${result.reason}` },
      );
    }
    onChanged();
  }

  async function remove(): Promise<void> {
    onNotice(null);
    const deleted = await action.run("delete", (client) =>
      client.api.deleteFlowRun({ params: { id: run.id } }),
    );
    if (deleted) navigate("/runs");
  }

  return (
    <>
      <button
        type="button"
        className="button"
        disabled={!canCancel || action.busy !== null}
        title={canCancel ? "Ask the run to stop" : "The run is already stopping or finished"}
        onClick={() => void propose("cancel", CANCEL)}
      >
        {action.busy === "cancel" ? "Cancelling…" : "Cancel"}
      </button>
      <button
        type="button"
        className="button"
        disabled={!canRetry || action.busy !== null}
        title={retryTitle(run)}
        onClick={() => void propose("retry", RERUN)}
      >
        {action.busy === "retry" ? "Scheduling…" : "Retry"}
      </button>
      <ConfirmButton
        label="Delete"
        busyLabel="Deleting…"
        question="Delete this run with its task runs and logs?"
        confirmLabel="Yes, delete"
        busy={action.busy === "delete"}
        disabled={action.busy !== null}
        onConfirm={() => void remove()}
      />
      <InlineError error={action.error} />
    </>
  );
}
