import type { Deployment, JsonObject } from "@baton/core";
import type { ErrorSchema, RJSFSchema } from "@rjsf/utils";
import { useMemo, useState, type FormEvent, type ReactNode } from "react";
import { toError, useApiContext } from "./api.js";
import { Json } from "./components.js";
import {
  issuesOf,
  JsonEditor,
  ModeSwitch,
  pretty,
  ProblemBox,
  type Mode,
  type Problem,
} from "./form-parts.js";
import { CheckedForm } from "./checked-form.js";
import {
  checkParameters,
  formSchema,
  hasFields,
  issuesToErrorSchema,
  readJsonObject,
  validator,
} from "./parameters.js";
import { navigate } from "./router.js";

function Actions({ submitting, onCancel }: { submitting: boolean; onCancel: () => void }) {
  return (
    <div className="form-actions">
      <button type="submit" className="button primary" disabled={submitting}>
        {submitting ? "Starting…" : "Start run"}
      </button>
      <button type="button" className="button" onClick={onCancel} disabled={submitting}>
        Cancel
      </button>
    </div>
  );
}

/** The form made from the schema, checking the values when "Start run" is pressed, before they are sent. */
function SchemaForm({
  schema,
  values,
  onChange,
  onSubmit,
  serverErrors,
  submitting,
  children,
}: {
  schema: RJSFSchema;
  values: JsonObject;
  onChange: (values: JsonObject) => void;
  onSubmit: (values: JsonObject) => void;
  serverErrors: ErrorSchema | undefined;
  submitting: boolean;
  children: ReactNode;
}) {
  return (
    <CheckedForm
      schema={schema}
      validator={validator}
      formData={values}
      onChange={(change) => onChange((change.formData ?? {}) as JsonObject)}
      onSubmit={(submitted) => onSubmit((submitted.formData ?? {}) as JsonObject)}
      extraErrors={serverErrors}
      disabled={submitting}
    >
      {children}
    </CheckedForm>
  );
}

/**
 * Starts a run of a deployment with parameters from a form made from its JSON Schema, or typed as
 * JSON. Both check the parameters before sending them; what the server still refuses is shown
 * beside the form, and a started run opens its page.
 */
export function RunDeploymentForm({
  deployment,
  onCancel,
}: {
  deployment: Deployment;
  onCancel: () => void;
}) {
  const { client, reportError } = useApiContext();
  const schema = useMemo(() => formSchema(deployment.parameterSchema), [deployment.parameterSchema]);
  const [mode, setMode] = useState<Mode>(hasFields(schema) ? "form" : "json");
  const [values, setValues] = useState<JsonObject>(deployment.parameters);
  const [jsonText, setJsonText] = useState(() => pretty(deployment.parameters));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [fieldErrors, setFieldErrors] = useState<ErrorSchema | undefined>(undefined);
  const [submitting, setSubmitting] = useState(false);

  async function start(parameters: JsonObject): Promise<void> {
    setSubmitting(true);
    setProblem(null);
    setFieldErrors(undefined);
    try {
      const run = await client.api.createDeploymentRun({
        params: { id: deployment.id },
        body: { parameters },
      });
      navigate(`/runs/${run.id}`);
    } catch (error) {
      reportError(error);
      const issues = issuesOf(error);
      setProblem({
        title: issues.length > 0 ? "The server refused these parameters." : "The run was not started.",
        detail: issues.length > 0 ? undefined : toError(error).message,
        issues,
      });
      if (issues.length > 0) setFieldErrors(issuesToErrorSchema(issues));
      setSubmitting(false);
    }
  }

  function switchTo(next: Mode): void {
    if (next === mode) return;
    if (next === "json") {
      setJsonText(pretty(values));
    } else {
      // The form can show any object (and flags what does not fit), but not text that is not one.
      const read = readJsonObject(jsonText);
      if (!read.ok) {
        setProblem({ title: "Fix the JSON to go back to the form.", issues: read.issues });
        return;
      }
      setValues(read.value);
    }
    setProblem(null);
    setMode(next);
  }

  function submitJson(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    const checked = checkParameters(jsonText, schema, deployment.parameters);
    if (checked.ok) void start(checked.value);
    else setProblem({ title: "These parameters do not fit the schema.", issues: checked.issues });
  }

  const actions = <Actions submitting={submitting} onCancel={onCancel} />;
  const editor =
    mode === "form" ? (
      <SchemaForm
        schema={schema}
        values={values}
        onChange={setValues}
        onSubmit={(parameters) => void start(parameters)}
        serverErrors={fieldErrors}
        submitting={submitting}
      >
        {actions}
      </SchemaForm>
    ) : (
      <JsonEditor label="Parameters (JSON)" text={jsonText} onChange={setJsonText} onSubmit={submitJson}>
        {actions}
      </JsonEditor>
    );

  return (
    <section className="card run-form" aria-label="New run">
      <div className="section-header">
        <h2>New run</h2>
        <ModeSwitch label="Parameters as" mode={mode} onChange={switchTo} />
      </div>
      <div className="run-form-body">
        <div className="run-form-editor">
          {hasFields(schema) ? null : (
            <p className="muted">This deployment declares no parameters; give any as JSON.</p>
          )}
          {editor}
        </div>
        <aside className="run-form-aside">
          {problem ? <ProblemBox problem={problem} /> : null}
          <h3>Parameters to send</h3>
          {mode === "form" ? (
            <Json value={values} />
          ) : (
            <p className="muted small">
              The JSON on the left, checked against the schema when you start the run.
            </p>
          )}
          <p className="muted small">The deployment&apos;s defaults fill in whatever is left out.</p>
        </aside>
      </div>
    </section>
  );
}
