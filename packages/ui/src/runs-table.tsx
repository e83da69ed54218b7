import type { FlowRun } from "@baton/core";
import { Duration, endOf, StateBadge, Time } from "./components.js";
import { Link } from "./router.js";

function StartTime({ run }: { run: FlowRun }) {
  if (run.startTime) return <Time value={run.startTime} />;
  if (!run.expectedStartTime) return <span className="muted">—</span>;
  return (
    <span className="muted">
      expected <Time value={run.expectedStartTime} />
    </span>
  );
}

/** A run's tags as buttons that filter the list by one of them. */
function TagButtons({ tags, onTag }: { tags: string[]; onTag: (tag: string) => void }) {
  if (tags.length === 0) return <span className="muted">—</span>;
  return (
    <span className="tags">
      {tags.map((tag) => (
        <button
          key={tag}
          type="button"
          className="tag tag-button"
          title={`Show the runs tagged ${tag}`}
          onClick={() => onTag(tag)}
        >
          {tag}
        </button>
      ))}
    </span>
  );
}

/**
 * Flow runs as a table; a deployment's page leaves out the deployment column, which would repeat
 * itself. With `onTag`, a column of tags that filter by themselves when clicked.
 */
export function RunsTable({
  runs,
  showDeployment = true,
  onTag,
}: {
  runs: FlowRun[];
  showDeployment?: boolean;
  onTag?: (tag: string) => void;
}) {
  return (
    <table className="table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Flow</th>
          {showDeployment ? <th>Deployment</th> : null}
          <th>State</th>
          {onTag ? <th>Tags</th> : null}
          <th>Start</th>
          <th className="num">Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr key={run.id}>
            <td>
              <Link href={`/runs/${run.id}`} className="strong">
                {run.name}
              </Link>
            </td>
            <td>{run.flowName}</td>
            {showDeployment ? (
              <td>
                {run.deploymentId ? (
                  <Link href={`/deployments/${run.deploymentId}`}>{run.deploymentName}</Link>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
            ) : null}
            <td>
              <StateBadge state={run.state} />
            </td>
            {onTag ? (
              <td>
                <TagButtons tags={run.tags} onTag={onTag} />
              </td>
            ) : null}
            <td>
              <StartTime run={run} />
            </td>
            <td className="num">
              <Duration start={run.startTime} end={endOf(run)} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
