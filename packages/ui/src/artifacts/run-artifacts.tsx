import { isTerminal, type Artifact, type StateType } from "@baton/core";
import { useEffect, useRef } from "react";
import { usePagedList } from "../api.js";
import { ErrorBox, LoadMore, useEvery } from "../components.js";
import { ArtifactCard } from "./artifact-view.js";

/** How often a running run's artifacts are read again: no event announces them (a progress bar moves). */
const ARTIFACTS_REFRESH_MS = 2000;

/** The artifacts a flow run and its task runs made, newest first; none: nothing is shown. */
export function RunArtifacts({
  runId,
  stateType,
  taskNames,
}: {
  runId: string;
  stateType: StateType | undefined;
  taskNames: Map<string, string>;
}) {
  const artifacts = usePagedList<Artifact>(
    (client, page, signal) => client.api.listArtifacts({ query: { flowRunId: runId, ...page } }, signal),
    [runId],
    { pageSize: 20 },
  );
  const going = !isTerminal(stateType);
  useEvery(going ? ARTIFACTS_REFRESH_MS : null, artifacts.refresh);
  // Again whenever the run's state changes: once it has ended, what it made last is there.
  const { refresh } = artifacts;
  const seenState = useRef(stateType);
  useEffect(() => {
    if (seenState.current === stateType) return;
    seenState.current = stateType;
    refresh();
  }, [stateType, refresh]);

  if (artifacts.items.length === 0 && !artifacts.error) return null;
  return (
    <section className="card" aria-label="Artifacts">
      <h2>Artifacts</h2>
      {artifacts.error ? <ErrorBox error={artifacts.error} onRetry={artifacts.refresh} /> : null}
      <div className="artifacts">
        {artifacts.items.map((artifact) => (
          <ArtifactCard
            key={artifact.id}
            artifact={artifact}
            taskName={artifact.taskRunId ? taskNames.get(artifact.taskRunId) : undefined}
          />
        ))}
      </div>
      <LoadMore
        nextOffset={artifacts.nextOffset}
        loading={artifacts.loadingMore}
        onClick={artifacts.loadMore}
      />
    </section>
  );
}
