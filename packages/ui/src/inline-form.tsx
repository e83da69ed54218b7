import type { InputHTMLAttributes, ReactNode } from "react";
import type { Action } from "./api.js";
import { InlineError } from "./components.js";

/**
 * A small form on one line above a list, whose submit is one change run as `action`: its fields,
 * then a button that is off until `ready` and while the change runs, then why it failed.
 */
export function InlineForm({
  label,
  className = "card inline-form",
  action,
  ready,
  submitLabel,
  busyLabel,
  error = null,
  onSubmit,
  children,
}: {
  /** The form's name for screen readers. */
  label: string;
  className?: string;
  action: Action;
  /** Whether the fields hold something to send. */
  ready: boolean;
  submitLabel: string;
  /** The button's words while the change runs: "Adding…". */
  busyLabel: string;
  /** A fault found before sending, shown instead of the action's. */
  error?: Error | null;
  /** Sends the fields (read from the form itself where they are not React state). */
  onSubmit: (form: HTMLFormElement) => Promise<void>;
  children: ReactNode;
}) {
  return (
    <form
      className={className}
      aria-label={label}
      onSubmit={(event) => {
        event.preventDefault();
        if (ready && action.busy === null) void onSubmit(event.currentTarget);
      }}
    >
      {children}
      <button type="submit" className="button primary" disabled={!ready || action.busy !== null}>
        {action.busy ? busyLabel : submitLabel}
      </button>
      <InlineError error={error ?? action.error} />
    </form>
  );
}

/** A box with its label before it, on one line: the fields of the small forms above a list. */
export function InlineField({
  label,
  value,
  onChange,
  ...input
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
} & Omit<InputHTMLAttributes<HTMLInputElement>, "value" | "onChange">) {
  return (
    <label className="field-inline">
      {label}
      <input value={value} onChange={(event) => onChange(event.target.value)} {...input} />
    </label>
  );
}
