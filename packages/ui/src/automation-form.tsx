import type { Automation } from "@baton/core";
import type { ErrorSchema } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import { useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { toError, useApiContext } from "./api.js";
import { Json } from "./components.js";
import { automationFields, automationWidgets, type AutomationFormContext } from "./automation-fields.js";
import {
  automationSchema,
  bodyIssues,
  changesFrom,
  checkAutomation,
  cleanDraft,
  draftOf,
  formTakes,
  NEW_AUTOMATION,
  NEW_METRIC_TRIGGER,
  TRIGGER_KINDS,
  triggerKindOf,
  uiSchemaFor,
  type AutomationDraft,
  type TriggerKind,
} from "./automation-model.js";
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
import { issuesToErrorSchema } from "./parameters.js";

// The actions' options are told apart by `type`: checked that way, a slack action without its secret
// says so, instead of failing every other kind of action as well.
const validator = customizeValidator({ ajvOptionsOverrides: { discriminator: true } });

function Buttons({ label, saving, onCancel }: { label: string; saving: boolean; onCancel: () => void }) {
  return (
    <div className="form-actions">
      <button type="submit" className="button primary" disabled={saving}>
        {saving ? "Saving…" : label}
      </button>
      <button type="button" className="button" onClick={onCancel} disabled={saving}>
        Cancel
      </button>
    </div>
  );
}

function readJson(text: string): { ok: true; value: AutomationDraft } | { ok: false; problem: Problem } {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return { ok: true, value: value as AutomationDraft };
    return { ok: false, problem: { title: "An automation is a JSON object.", issues: [] } };
  } catch (error) {
    return {
      ok: false,
      problem: {
        title: "This is not JSON.",
        issues: [{ path: "(JSON)", message: (error as Error).message }],
      },
    };
  }
}

/** The generated form; after a first failed save it checks every change, so messages go as fields are fixed. */
function SchemaForm({
  values,
  onChange,
  onSubmit,
  context,
  errors,
  saving,
  children,
}: {
  values: AutomationDraft;
  onChange: (values: AutomationDraft) => void;
  onSubmit: (values: AutomationDraft) => void;
  context: AutomationFormContext;
  errors: ErrorSchema | undefined;
  saving: boolean;
  children: ReactNode;
}) {
  const kind = triggerKindOf(values);
  const schema = useMemo(() => automationSchema(kind), [kind]);
  return (
    <CheckedForm
      schema={schema}
      uiSchema={uiSchemaFor(kind)}
      validator={validator}
      fields={automationFields}
      widgets={automationWidgets}
      formContext={context}
      formData={values}
      onChange={(change) => onChange((change.formData ?? {}) as AutomationDraft)}
      onSubmit={(submitted) => onSubmit((submitted.formData ?? {}) as AutomationDraft)}
      extraErrors={errors}
      disabled={saving}
      experimental_defaultFormStateBehavior={{
        arrayMinItems: { populate: "requiredOnly" },
        emptyObjectFields: "skipEmptyDefaults",
      }}
    >
      {children}
    </CheckedForm>
  );
}

/**
 * Creates an automation, or edits `automation`, from a form made from the model's JSON Schema or
 * as JSON. Both are checked with the model before anything is sent; what the server still refuses
 * is shown beside them. An edit sends only what changed.
 */
export function AutomationEditor({
  automation,
  secrets,
  onSaved,
  onCancel,
}: {
  automation?: Automation;
  secrets: string[] | undefined;
  onSaved: (automation: Automation) => void;
  onCancel: () => void;
}) {
  const { client, reportError } = useApiContext();
  const [values, setValues] = useState<AutomationDraft>(() =>
    automation ? draftOf(automation) : NEW_AUTOMATION,
  );
  // A compound or sequence trigger is edited as JSON: the form draws event and metric triggers.
  const [mode, setMode] = useState<Mode>(() => (formTakes(values) ? "json" : "form"));
  const [jsonText, setJsonText] = useState(() => pretty(values));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [fieldErrors, setFieldErrors] = useState<ErrorSchema | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const invalidJson = useRef(new Set<string>()).current;
  const context = useMemo(() => ({ secrets, invalidJson }), [secrets, invalidJson]);

  function refuse(next: Problem): void {
    setProblem(next);
    setFieldErrors(next.issues.length > 0 ? issuesToErrorSchema(next.issues) : undefined);
  }

  async function save(draft: AutomationDraft): Promise<void> {
    if (invalidJson.size > 0) {
      refuse({ title: "Fix the JSON fields first.", issues: [] });
      return;
    }
    const checked = checkAutomation(cleanDraft(draft));
    if (!checked.ok) {
      refuse({ title: "This automation is not complete yet.", issues: checked.issues });
      return;
    }
    setSaving(true);
    setProblem(null);
    setFieldErrors(undefined);
    try {
      const saved = automation
        ? await client.api.updateAutomation({
            params: { id: automation.id },
            body: changesFrom(automation, checked.value),
          })
        : await client.api.createAutomation({ body: checked.value });
      onSaved(saved);
    } catch (error) {
      reportError(error);
      const issues = bodyIssues(issuesOf(error));
      refuse({
        title: issues.length > 0 ? "The server refused this automation." : "The automation was not saved.",
        detail: issues.length > 0 ? undefined : toError(error).message,
        issues,
      });
      setSaving(false);
    }
  }

  function switchTo(next: Mode): void {
    if (next === mode) return;
    if (next === "json") {
      setJsonText(pretty(cleanDraft(values)));
    } else {
      const read = readJson(jsonText);
      if (!read.ok) {
        setProblem({ ...read.problem, title: `${read.problem.title} Fix it to go back to the form.` });
        return;
      }
      const cannot = formTakes(read.value);
      if (cannot) {
        setProblem({ title: cannot, issues: [] });
        return;
      }
      setValues(read.value);
    }
    setProblem(null);
    setFieldErrors(undefined);
    setMode(next);
  }

  function submitJson(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    const read = readJson(jsonText);
    if (read.ok) void save(read.value);
    else setProblem(read.problem);
  }

  const title = automation ? `Edit ${automation.name}` : "New automation";
  const buttons = <Buttons label={automation ? "Save" : "Create"} saving={saving} onCancel={onCancel} />;
  return (
    <section className="card run-form" aria-label={title}>
      <div className="section-header">
        <h2>{title}</h2>
        <ModeSwitch label="Automation as" jsonLabel="JSON" mode={mode} onChange={switchTo} />
      </div>
      <div className="run-form-body">
        <div className="run-form-editor">
          {mode === "form" ? (
            <label className="field">
              <span>Trigger kind</span>
              <select
                value={triggerKindOf(values)}
                onChange={(event) => {
                  const kind = event.target.value as TriggerKind;
                  // Another kind starts from its own example; the rest of the automation stays.
                  const trigger = kind === "metric" ? NEW_METRIC_TRIGGER : NEW_AUTOMATION.trigger;
                  setValues({ ...values, trigger });
                  setFieldErrors(undefined);
                }}
                disabled={saving}
              >
                {Object.entries(TRIGGER_KINDS).map(([kind, label]) => (
                  <option key={kind} value={kind}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
          ) : null}
          {mode === "form" ? (
            <SchemaForm
              values={values}
              onChange={setValues}
              onSubmit={(draft) => void save(draft)}
              context={context}
              errors={fieldErrors}
              saving={saving}
            >
              {buttons}
            </SchemaForm>
          ) : (
            <JsonEditor
              label="Automation (JSON)"
              text={jsonText}
              onChange={setJsonText}
              onSubmit={submitJson}
            >
              {buttons}
            </JsonEditor>
          )}
        </div>
        <aside className="run-form-aside">
          {problem ? <ProblemBox problem={problem} /> : null}
          {mode === "form" ? (
            <>
              <h3>To be saved</h3>
              <Json value={cleanDraft(values)} />
            </>
          ) : (
            <p className="muted small">Checked against the automation model when you save.</p>
          )}
          <p className="muted small">
            Texts are templates: <code>{"{{ flow_run.name }}"}</code>, <code>{"{{ flow.name }}"}</code>,{" "}
            <code>{"{{ state.name }}"}</code>, <code>{"{{ state.message }}"}</code>,{" "}
            <code>{"{{ flow_run.url }}"}</code>… (docs/automations.md). Notifications name a secret holding
            the URL to post to.
          </p>
        </aside>
      </div>
    </section>
  );
}
