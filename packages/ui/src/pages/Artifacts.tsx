import type { Artifact } from "@baton/core";
import { isNotFound, usePagedList } from "../api.js";
import { ArtifactCard } from "../artifacts/artifact-view.js";
import { Badge, EmptyState, ErrorBox, Loading, LoadMore, PageHeader, Time, useTitle } from "../components.js";
import { PagedTable } from "../paged-table.js";
import { Link } from "../router.js";

/** A summary of an artifact's data on one line, for the listing. */
function summary(artifact: Artifact): string {
  switch (artifact.type) {
    case "markdown": {
      const text = artifact.data
        .replace(/[#*_`>|]/g, "")
        .replace(/\s+/g, " ")
        .trim();
      return text.length > 80 ? `${text.slice(0, 79)}…` : text;
    }
    case "table":
      return `${artifact.data.length} row${artifact.data.length === 1 ? "" : "s"}`;
    case "link":
      return artifact.data.linkText ?? artifact.data.link;
    case "progress":
      return `${artifact.data}%`;
  }
}

function ArtifactRow({ artifact }: { artifact: Artifact }) {
  return (
    <tr>
      <td>
        <Link href={`/artifacts/${encodeURIComponent(artifact.key ?? "")}`}>{artifact.key}</Link>
      </td>
      <td>
        <Badge tone="off">{artifact.type}</Badge>
      </td>
      <td className="artifact-summary">{artifact.description ?? summary(artifact)}</td>
      <td>
        {artifact.flowRunId ? (
          <Link href={`/runs/${artifact.flowRunId}`}>{artifact.flowRunName ?? artifact.flowRunId}</Link>
        ) : (
          <span className="muted">none</span>
        )}
      </td>
      <td>
        <Time value={artifact.updated} />
      </td>
    </tr>
  );
}

/** The newest version of each artifact key. */
export function ArtifactsPage() {
  useTitle("Artifacts");
  const artifacts = usePagedList<Artifact>(
    (client, page, signal) => client.api.listArtifacts({ query: { latest: "true", ...page } }, signal),
    [],
  );
  return (
    <>
      <PageHeader title="Artifacts" />
      <p className="muted intro">
        The newest version of each artifact key, made by <code>createMarkdownArtifact</code> and the like in
        flows and tasks. Artifacts without a key are on their run&apos;s page.
      </p>
      <PagedTable
        list={artifacts}
        label="Artifacts"
        columns={["Key", "Type", "Latest", "Flow run", "Updated"]}
        row={(artifact) => <ArtifactRow artifact={artifact} />}
        loading="Loading artifacts…"
        empty={
          <EmptyState title="No artifact keys.">
            A flow makes one with createMarkdownArtifact(&#123; key, markdown &#125;).
          </EmptyState>
        }
      />
    </>
  );
}

/** A key's newest version in full, then its history. */
export function ArtifactKeyPage({ artifactKey }: { artifactKey: string }) {
  useTitle(artifactKey);
  const versions = usePagedList<Artifact>(
    (client, page, signal) =>
      client.api.listArtifactVersions({ params: { key: artifactKey }, query: page }, signal),
    [artifactKey],
    { pageSize: 20 },
  );
  const [latest, ...older] = versions.items;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/artifacts">Artifacts</Link> / {artifactKey}
      </p>
      <PageHeader title={artifactKey} />
      {versions.error && isNotFound(versions.error) ? (
        <EmptyState title="This artifact key has no versions.">
          They may have been deleted with their runs. <Link href="/artifacts">Back to artifacts</Link>
        </EmptyState>
      ) : versions.error ? (
        <ErrorBox error={versions.error} onRetry={versions.refresh} />
      ) : null}
      {!versions.loaded ? <Loading what="Loading versions…" /> : null}
      {latest ? (
        <section className="card" aria-label="Latest version">
          <h2>Latest</h2>
          <ArtifactCard artifact={latest} showRun />
        </section>
      ) : null}
      {older.length > 0 ? (
        <section className="card" aria-label="History">
          <h2>History</h2>
          {older.map((artifact) => (
            <details key={artifact.id} className="artifact-version">
              <summary>
                <Time value={artifact.created} />
                {artifact.flowRunId ? <> · {artifact.flowRunName ?? artifact.flowRunId}</> : null}
                {artifact.description ? <> · {artifact.description}</> : null}
              </summary>
              <ArtifactCard artifact={artifact} showRun />
            </details>
          ))}
          <LoadMore
            nextOffset={versions.nextOffset}
            loading={versions.loadingMore}
            onClick={versions.loadMore}
          />
        </section>
      ) : null}
    </>
  );
}
