import type { BatonClient } from "@baton/client";
import { useState, type FormEvent, type InputHTMLAttributes, type ReactNode } from "react";
import { useAction } from "./api.js";
import { InlineField, InlineForm } from "./inline-form.js";

/** Reads a limit typed in a box: a whole number, 0 or more; empty is "no limit" where that is allowed. */
export function parseLimit(
  text: string,
  optional: boolean,
): { ok: true; value: number | null } | { ok: false } {
  const trimmed = text.trim();
  if (trimmed === "") return optional ? { ok: true, value: null } : { ok: false };
  const value = Number(trimmed);
  return Number.isInteger(value) && value >= 0 ? { ok: true, value } : { ok: false };
}

/** The box a limit is typed in: a whole number, 0 or more. */
function LimitInput(
  props: Omit<InputHTMLAttributes<HTMLInputElement>, "type" | "min" | "step" | "inputMode">,
) {
  return <input type="number" min={0} step={1} inputMode="numeric" {...props} />;
}

/**
 * A limit shown with an Edit button that turns it into a box with Save and Cancel. `optional`
 * limits may be emptied (no limit). `onSave` resolves true once saved.
 */
export function LimitEditor({
  limit,
  subject,
  optional,
  onSave,
}: {
  limit: number | null;
  /** Names what is limited, for screen readers: "the pool local", say. */
  subject: string;
  optional: boolean;
  onSave: (limit: number | null) => Promise<boolean>;
}) {
  const [draft, setDraft] = useState<string | null>(null);
  const [invalid, setInvalid] = useState(false);
  const [saving, setSaving] = useState(false);

  if (draft === null) {
    return (
      <span className="limit">
        {limit ?? <span className="muted">none</span>}
        <button
          type="button"
          className="link-button small"
          aria-label={`Edit the limit of ${subject}`}
          onClick={() => {
            setInvalid(false);
            setDraft(limit === null ? "" : String(limit));
          }}
        >
          Edit
        </button>
      </span>
    );
  }

  async function save(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const parsed = parseLimit(draft ?? "", optional);
    setInvalid(!parsed.ok);
    if (!parsed.ok) return;
    setSaving(true);
    const saved = await onSave(parsed.value);
    setSaving(false);
    if (saved) setDraft(null);
  }

  return (
    <form className="limit-form" onSubmit={(event) => void save(event)} noValidate>
      <LimitInput
        aria-label={`Limit of ${subject}`}
        aria-invalid={invalid}
        placeholder={optional ? "none" : undefined}
        value={draft}
        autoFocus
        onChange={(event) => setDraft(event.target.value)}
      />
      <button type="submit" className="button small primary" disabled={saving}>
        {saving ? "Saving…" : "Save"}
      </button>
      <button type="button" className="button small" onClick={() => setDraft(null)} disabled={saving}>
        Cancel
      </button>
      {invalid ? (
        <span className="inline-error" role="alert">
          {optional ? "A whole number, 0 or more; empty for no limit." : "A whole number, 0 or more."}
        </span>
      ) : null}
    </form>
  );
}

/**
 * The form adding a limit: the name of what it limits (a tag, say), the limit, and `children` for
 * more fields before the button. It empties its own fields once `create` has succeeded.
 */
export function NewLimitForm({
  label,
  nameLabel,
  namePlaceholder,
  submitLabel,
  ready = true,
  create,
  onCreated,
  children,
}: {
  /** The form's name for screen readers. */
  label: string;
  nameLabel: string;
  namePlaceholder: string;
  submitLabel: string;
  /** Whether the fields in `children` hold something to send. */
  ready?: boolean;
  create: (client: BatonClient, name: string, limit: number) => Promise<unknown>;
  /** Called once created: to read the list again and empty the fields in `children`. */
  onCreated: () => void;
  children?: ReactNode;
}) {
  const action = useAction(onCreated);
  const [name, setName] = useState("");
  const [limit, setLimit] = useState("");
  const parsed = parseLimit(limit, false);
  async function submit(): Promise<void> {
    if (!parsed.ok || parsed.value === null) return;
    const value = parsed.value;
    const created = await action.run("create", (client) => create(client, name.trim(), value));
    if (!created) return;
    setName("");
    setLimit("");
  }
  return (
    <InlineForm
      label={label}
      className="card create-limit"
      action={action}
      ready={name.trim() !== "" && parsed.ok && ready}
      submitLabel={submitLabel}
      busyLabel="Adding…"
      onSubmit={submit}
    >
      <InlineField label={nameLabel} value={name} onChange={setName} placeholder={namePlaceholder} />
      <label className="field-inline">
        Limit
        <LimitInput value={limit} onChange={(event) => setLimit(event.target.value)} placeholder="2" />
      </label>
      {children}
    </InlineForm>
  );
}
