import { jobVariableDefaults, withJobVariableDefaults, type JsonObject, type WorkPool } from "@baton/core";
import { useMemo, useState } from "react";
import { useAction } from "./api.js";
import { CheckedForm } from "./checked-form.js";
import { issuesOf, ProblemBox, type Problem } from "./form-parts.js";
import { formSchema, hasFields, issuesToErrorSchema, validator } from "./parameters.js";

/**
 * A pool's job variables, as its base job template's schema declares them, in a form made from that
 * schema whose values are the pool's defaults; saving writes them into the template. Nothing is
 * required here: what the workers need (a docker image) may come from each deployment instead.
 */
export function PoolJobVariables({ pool, onSaved }: { pool: WorkPool; onSaved: () => void }) {
  const template = pool.baseJobTemplate;
  const schema = useMemo(() => {
    const { required: _required, ...variables } = (template.variables ?? {}) as JsonObject;
    return formSchema(variables);
  }, [template]);
  const [values, setValues] = useState<JsonObject>(() => jobVariableDefaults(template));
  const action = useAction(onSaved);
  const save = (defaults: JsonObject) =>
    action.run("save", (client) =>
      client.api.updateWorkPool({
        params: { name: pool.name },
        body: { baseJobTemplate: withJobVariableDefaults(template, defaults) },
      }),
    );

  // What the server refused, beside the form and under the fields it names.
  const issues = action.error ? issuesOf(action.error) : [];
  const problem: Problem | null = action.error
    ? {
        title: "The server did not save these defaults.",
        detail: issues.length > 0 ? undefined : action.error.message,
        issues,
      }
    : null;

  if (!hasFields(schema)) {
    return <p className="muted">This pool&apos;s base job template declares no job variables.</p>;
  }
  return (
    <div className="pool-job-variables">
      <CheckedForm
        // Each pool's form on the page has ids of its own.
        idPrefix={`pool-${pool.id}`}
        schema={schema}
        validator={validator}
        // A variable left empty has no default: no empty list or object is made up for it.
        experimental_defaultFormStateBehavior={{
          arrayMinItems: { populate: "requiredOnly" },
          emptyObjectFields: "skipEmptyDefaults",
        }}
        formData={values}
        onChange={(change) => setValues((change.formData ?? {}) as JsonObject)}
        onSubmit={(submitted) => void save((submitted.formData ?? {}) as JsonObject)}
        extraErrors={issues.length > 0 ? issuesToErrorSchema(issues) : undefined}
        disabled={action.busy !== null}
      >
        <div className="form-actions">
          <button type="submit" className="button primary" disabled={action.busy !== null}>
            {action.busy ? "Saving…" : "Save defaults"}
          </button>
        </div>
      </CheckedForm>
      {problem ? <ProblemBox problem={problem} /> : null}
    </div>
  );
}
