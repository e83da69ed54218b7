/**
 * The automation form's own fields: lists of names as lines of text, any JSON as text, and a
 * secret chosen by name (the names come from the form's context; values are never read).
 */
import { getUiOptions, type FieldProps, type RegistryFieldsType, type WidgetProps } from "@rjsf/utils";
import { useEffect, useState, type ChangeEvent } from "react";
import { STORED_EVENTS } from "@baton/core";

/** What the editor hands its fields. */
export interface AutomationFormContext {
  /** The names of the secrets there are, or undefined while they load. */
  secrets: string[] | undefined;
  /** The ids of JSON fields whose text is not JSON: the editor saves nothing while there are any. */
  invalidJson: Set<string>;
}

function labelOf(props: FieldProps): string {
  const { title } = getUiOptions(props.uiSchema);
  return title ?? props.schema.title ?? props.name;
}

const textOf = (value: unknown) => (Array.isArray(value) ? value.join("\n") : "");

/** A list of names, one a line; blank lines are dropped, and no line at all is no list. */
function LinesField(props: FieldProps<string[] | undefined>) {
  const { fieldPathId, formData, onChange, disabled, readonly } = props;
  const [text, setText] = useState(() => textOf(formData));
  // What the form holds may change from outside (a reset): follow it unless it is what was typed.
  useEffect(() => {
    setText((current) => (textOf(parseLines(current)) === textOf(formData) ? current : textOf(formData)));
  }, [formData]);
  function change(event: ChangeEvent<HTMLTextAreaElement>) {
    setText(event.target.value);
    onChange(parseLines(event.target.value), fieldPathId.path);
  }
  return (
    <>
      <label className="control-label" htmlFor={fieldPathId.$id}>
        {labelOf(props)}
      </label>
      <textarea
        id={fieldPathId.$id}
        className="form-control lines-input"
        rows={Math.max(1, Math.min(6, text.split("\n").length))}
        placeholder={getUiOptions(props.uiSchema).placeholder}
        value={text}
        disabled={disabled || readonly}
        onChange={change}
      />
    </>
  );
}

function parseLines(text: string): string[] | undefined {
  const values = text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  return values.length > 0 ? values : undefined;
}

/** A list of choices as boxes; none checked is no list (a filter left out), not an empty one. */
function ChoicesField(props: FieldProps<string[] | undefined>) {
  const { fieldPathId, formData, onChange, disabled, readonly, schema } = props;
  const items = schema.items as { enum?: unknown[] } | undefined;
  const choices = (items?.enum ?? []).map(String);
  const chosen = formData ?? [];
  function toggle(choice: string, on: boolean) {
    const next = choices.filter((item) => (item === choice ? on : chosen.includes(item)));
    onChange(next.length > 0 ? next : undefined, fieldPathId.path);
  }
  return (
    <>
      <label className="control-label">{labelOf(props)}</label>
      <div className="checkboxes">
        {choices.map((choice) => (
          <label key={choice} className="checkbox-inline">
            <span>
              <input
                type="checkbox"
                checked={chosen.includes(choice)}
                disabled={disabled || readonly}
                onChange={(event) => toggle(choice, event.target.checked)}
              />
              {choice}
            </span>
          </label>
        ))}
      </div>
    </>
  );
}

const isBatons = (name: string): boolean => (STORED_EVENTS as readonly string[]).includes(name);

/**
 * A trigger's events: a box for each of Baton's stored events, and custom events' names one a line
 * (`github.push`). Together they are the list; none at all is no list.
 */
function EventsField(props: FieldProps<string[] | undefined>) {
  const { fieldPathId, formData, onChange, disabled, readonly } = props;
  const chosen = formData ?? [];
  const custom = chosen.filter((name) => !isBatons(name));
  const [text, setText] = useState(() => custom.join("\n"));
  useEffect(() => {
    setText((current) => (textOf(parseLines(current)) === custom.join("\n") ? current : custom.join("\n")));
  }, [formData]);
  const send = (own: string[], others: string[] | undefined) => {
    const all = [...own, ...(others ?? [])];
    onChange(all.length > 0 ? all : undefined, fieldPathId.path);
  };
  const own = chosen.filter(isBatons);
  function toggle(name: string, on: boolean) {
    send(
      STORED_EVENTS.filter((event) => (event === name ? on : own.includes(event))),
      parseLines(text),
    );
  }
  function type(event: ChangeEvent<HTMLTextAreaElement>) {
    setText(event.target.value);
    send(own, parseLines(event.target.value));
  }
  const id = fieldPathId.$id;
  return (
    <>
      <label className="control-label">{labelOf(props)}</label>
      <div className="checkboxes">
        {STORED_EVENTS.map((name) => (
          <label key={name} className="checkbox-inline">
            <span>
              <input
                type="checkbox"
                checked={own.includes(name)}
                disabled={disabled || readonly}
                onChange={(event) => toggle(name, event.target.checked)}
              />
              {name}
            </span>
          </label>
        ))}
      </div>
      <label className="control-label" htmlFor={`${id}-custom`}>
        Custom events
      </label>
      <textarea
        id={`${id}-custom`}
        className="form-control lines-input"
        rows={Math.max(1, Math.min(6, text.split("\n").length))}
        placeholder="github.push"
        spellCheck={false}
        value={text}
        disabled={disabled || readonly}
        onChange={type}
      />
      <p className="help-block">
        Names of custom events (sent with emitEvent, POST /api/events or a webhook), one a line.
      </p>
    </>
  );
}

/** Any JSON value as text; while the text is not JSON, the form keeps the last value and says so. */
function JsonField(props: FieldProps<unknown>) {
  const { fieldPathId, formData, onChange, disabled, readonly, registry } = props;
  const { invalidJson } = registry.formContext as AutomationFormContext;
  const id = fieldPathId.$id;
  const [text, setText] = useState(() => (formData === undefined ? "" : JSON.stringify(formData, null, 2)));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (error === null) return;
    invalidJson.add(id);
    return () => void invalidJson.delete(id);
  }, [invalidJson, id, error]);
  function change(event: ChangeEvent<HTMLTextAreaElement>) {
    const next = event.target.value;
    setText(next);
    if (next.trim() === "") {
      setError(null);
      onChange(undefined, fieldPathId.path);
      return;
    }
    try {
      const value: unknown = JSON.parse(next);
      setError(null);
      onChange(value, fieldPathId.path);
    } catch (caught) {
      setError((caught as Error).message);
    }
  }
  return (
    <>
      <label className="control-label" htmlFor={id}>
        {labelOf(props)}
      </label>
      <textarea
        id={id}
        className="form-control json-input"
        spellCheck={false}
        rows={Math.max(3, Math.min(16, text.split("\n").length + 1))}
        value={text}
        aria-invalid={error !== null}
        disabled={disabled || readonly}
        onChange={change}
      />
      {error ? (
        <p className="inline-error" role="alert">
          Not JSON yet: {error}
        </p>
      ) : null}
    </>
  );
}

/** A secret by name: the values stay on the server. A name that is not set (yet) is kept, and said so. */
function SecretWidget({ id, value, onChange, disabled, readonly, registry }: WidgetProps) {
  const { secrets } = registry.formContext as AutomationFormContext;
  const current = typeof value === "string" ? value : "";
  const names = secrets ?? [];
  const missing = current !== "" && secrets !== undefined && !names.includes(current);
  return (
    <select
      id={id}
      className="form-control"
      value={current}
      disabled={disabled || readonly}
      onChange={(event) => onChange(event.target.value || undefined)}
    >
      <option value="">
        {secrets === undefined
          ? "Loading secrets…"
          : names.length === 0
            ? "No secrets yet: set one under Secrets"
            : "Choose a secret…"}
      </option>
      {missing ? <option value={current}>{current} (not set)</option> : null}
      {names.map((name) => (
        <option key={name} value={name}>
          {name}
        </option>
      ))}
    </select>
  );
}

/** The choice of an action's kind, above its fields: the form's selector for the actions' options. */
function ActionKindWidget({ id, value, options, onChange, disabled, readonly }: WidgetProps) {
  return (
    <span className="action-kind">
      <label htmlFor={id}>Action</label>
      <select
        id={id}
        className="form-control"
        value={value === undefined ? "" : String(value)}
        disabled={disabled || readonly}
        onChange={(event) => onChange(event.target.value)}
      >
        {(options.enumOptions ?? []).map((option) => (
          <option key={String(option.value)} value={String(option.value)}>
            {option.label}
          </option>
        ))}
      </select>
    </span>
  );
}

export const automationFields: RegistryFieldsType = {
  lines: LinesField,
  json: JsonField,
  events: EventsField,
  choices: ChoicesField,
};
export const automationWidgets = { secret: SecretWidget, actionKind: ActionKindWidget };
