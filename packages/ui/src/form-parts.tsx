/** The pieces the schema-made forms share: a form or JSON switch, the JSON box, what went wrong. */
import type { FieldIssue } from "@baton/core";
import type { RJSFValidationError } from "@rjsf/utils";
import type { FormEvent, ReactNode } from "react";

export type Mode = "form" | "json";

/** Why nothing was sent or saved: a check that failed, or the server's answer. */
export interface Problem {
  title: string;
  detail?: string;
  issues: FieldIssue[];
}

export const pretty = (value: unknown) => JSON.stringify(value, null, 2);

/** The field issues of a refused request (a BatonError's `issues`), if it has any. */
export function issuesOf(error: unknown): FieldIssue[] {
  const issues = (error as { issues?: unknown }).issues;
  return Array.isArray(issues) ? (issues as FieldIssue[]) : [];
}

/** "must have required property 'city'", under the field named city, says less as "is required". */
export const requiredAsShort = (errors: RJSFValidationError[]) =>
  errors.map((error) => (error.name === "required" ? { ...error, message: "is required" } : error));

export function ProblemBox({ problem }: { problem: Problem }) {
  return (
    <div className="error-box problem" role="alert">
      <strong>{problem.title}</strong>
      {problem.detail ? <p>{problem.detail}</p> : null}
      {problem.issues.length > 0 ? (
        <ul>
          {problem.issues.map((issue) => (
            <li key={`${issue.path}: ${issue.message}`}>
              <code>{issue.path}</code> {issue.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function ModeSwitch({
  mode,
  onChange,
  label,
  jsonLabel = "Custom JSON",
}: {
  mode: Mode;
  onChange: (mode: Mode) => void;
  /** Names the group: "Parameters as". */
  label: string;
  jsonLabel?: string;
}) {
  const option = (value: Mode, text: string) => (
    <button
      type="button"
      className={`segment${mode === value ? " selected" : ""}`}
      aria-pressed={mode === value}
      onClick={() => onChange(value)}
    >
      {text}
    </button>
  );
  return (
    <div className="segmented" role="group" aria-label={label}>
      {option("form", "Form")}
      {option("json", jsonLabel)}
    </div>
  );
}

export function JsonEditor({
  label,
  text,
  onChange,
  onSubmit,
  children,
}: {
  label: string;
  text: string;
  onChange: (text: string) => void;
  onSubmit: (event: FormEvent<HTMLFormElement>) => void;
  children: ReactNode;
}) {
  return (
    <form onSubmit={onSubmit} noValidate>
      <label className="field">
        {label}
        <textarea
          className="json-input"
          spellCheck={false}
          rows={Math.min(24, Math.max(8, text.split("\n").length + 1))}
          value={text}
          onChange={(event) => onChange(event.target.value)}
        />
      </label>
      {children}
    </form>
  );
}
