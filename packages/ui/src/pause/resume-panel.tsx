import type { JsonObject, Pause } from "@baton/core";
import type { ErrorSchema } from "@rjsf/utils";
import { useMemo, useState } from "react";
import { toError, useApiContext } from "../api.js";
import { CheckedForm } from "../checked-form.js";
import { Time } from "../components.js";
import { ProblemBox, issuesOf, type Problem } from "../form-parts.js";
import { formSchema, hasFields, issuesToErrorSchema, validator } from "../parameters.js";

function ResumeButton({ resuming }: { resuming: boolean }) {
  return (
    <div className="form-actions">
      <button type="submit" className="button primary" disabled={resuming}>
        {resuming ? "Resuming…" : "Resume"}
      </button>
    </div>
  );
}

/** Since when the run waits, until when, and whether its process was let go meanwhile. */
function PauseFacts({ since, pause }: { since: string; pause: Pause }) {
  return (
    <dl className="details pause-facts">
      <dt>Waiting since</dt>
      <dd>
        <Time value={since} /> (<Time value={since} relative />)
      </dd>
      <dt>Times out</dt>
      <dd>
        {pause.timeout ? (
          <>
            <Time value={pause.timeout} /> (<Time value={pause.timeout} relative />
            ), failing the run
          </>
        ) : (
          <span className="muted">never</span>
        )}
      </dd>
      {pause.reschedule ? (
        <>
          <dt>Process</dt>
          <dd>Suspended: its process was let go; resuming starts the run again from its deployment.</dd>
        </>
      ) : null}
    </dl>
  );
}

/**
 * A paused run's question: what it waits for, until when, and the form made from its input schema
 * (or only "Resume" when it asks for none). The form checks the input before sending it; what the
 * server still refuses is shown beside its fields, and the run keeps waiting. Once resumed, the
 * page's own reload (`onResumed`) and the run's events show the new state, and this panel goes.
 */
export function ResumePanel({
  runId,
  since,
  pause,
  onResumed,
  title = "Waiting for input",
}: {
  runId: string;
  /** When the run paused (its state's time). */
  since: string;
  pause: Pause;
  onResumed: () => void;
  /** The panel's heading (and name). */
  title?: string;
}) {
  const { client, reportError } = useApiContext();
  const { inputSchema } = pause;
  const schema = useMemo(() => (inputSchema ? formSchema(inputSchema) : null), [inputSchema]);
  const [values, setValues] = useState<JsonObject>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [fieldErrors, setFieldErrors] = useState<ErrorSchema | undefined>(undefined);
  const [resuming, setResuming] = useState(false);

  async function resume(input: JsonObject | undefined): Promise<void> {
    setResuming(true);
    setProblem(null);
    setFieldErrors(undefined);
    try {
      await client.api.resumeFlowRun({ params: { id: runId }, body: input ? { input } : {} });
      // Stays "Resuming…" until the run's new state replaces this panel.
      onResumed();
    } catch (error) {
      reportError(error);
      const issues = issuesOf(error);
      setProblem({
        title: issues.length > 0 ? "The run refused this input." : "The run was not resumed.",
        detail: issues.length > 0 ? undefined : toError(error).message,
        issues,
      });
      if (issues.length > 0) setFieldErrors(issuesToErrorSchema(issues));
      setResuming(false);
    }
  }

  return (
    <section className="card pause-panel" aria-label={title}>
      <h2>{title}</h2>
      {pause.description ? <p className="pause-description">{pause.description}</p> : null}
      <PauseFacts since={since} pause={pause} />
      <div className="pause-body">
        <div>
          {schema ? (
            <CheckedForm
              schema={schema}
              validator={validator}
              formData={values}
              onChange={(change) => setValues((change.formData ?? {}) as JsonObject)}
              onSubmit={(submitted) => void resume((submitted.formData ?? {}) as JsonObject)}
              extraErrors={fieldErrors}
              disabled={resuming}
            >
              {hasFields(schema) ? null : <p className="muted">The run asks for no fields.</p>}
              <ResumeButton resuming={resuming} />
            </CheckedForm>
          ) : (
            <form
              onSubmit={(event) => {
                event.preventDefault();
                void resume(undefined);
              }}
            >
              <ResumeButton resuming={resuming} />
            </form>
          )}
        </div>
        {problem ? <ProblemBox problem={problem} /> : null}
      </div>
    </section>
  );
}
