import { jsonOrString, type Variable } from "@baton/core";
import { useState, type FormEvent } from "react";
import { useAction, usePagedList } from "../api.js";
import {
  ConfirmActionButton,
  EmptyState,
  InlineError,
  PageHeader,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { InlineField, InlineForm } from "../inline-form.js";
import { PagedTable, RowActions } from "../paged-table.js";

/** A value as it is shown and edited: JSON, so that the string "3" and the number 3 differ. */
const asText = (value: Variable["value"]): string => JSON.stringify(value);

/** Tags typed in one box, comma-separated. */
const tagList = (text: string): string[] =>
  text
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);

const VALUE_HINT = "JSON when it parses (25, true, [1, 2]), else a string";

/** The value cell: the value on one line (the whole of it on hover), or a box to change it. */
function ValueEditor({ variable, onChanged }: { variable: Variable; onChanged: () => void }) {
  const action = useAction(onChanged);
  const [draft, setDraft] = useState<string | null>(null);
  const text = asText(variable.value);

  if (draft === null) {
    return (
      <span className="variable-value">
        <code title={text}>{text}</code>
        <button
          type="button"
          className="link-button small"
          aria-label={`Edit the value of ${variable.name}`}
          onClick={() => setDraft(text)}
        >
          Edit
        </button>
      </span>
    );
  }

  async function save(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    const value = jsonOrString(draft ?? "");
    const saved = await action.run("save", (client) =>
      client.api.updateVariable({ params: { name: variable.name }, body: { value } }),
    );
    if (saved) setDraft(null);
  }

  return (
    <form className="value-form" onSubmit={(event) => void save(event)}>
      <input
        aria-label={`Value of ${variable.name}`}
        title={VALUE_HINT}
        spellCheck={false}
        value={draft}
        autoFocus
        onChange={(event) => setDraft(event.target.value)}
      />
      <button type="submit" className="button small primary" disabled={action.busy !== null}>
        {action.busy ? "Saving…" : "Save"}
      </button>
      <button type="button" className="button small" onClick={() => setDraft(null)}>
        Cancel
      </button>
      <InlineError error={action.error} />
    </form>
  );
}

function VariableRow({ variable, onChanged }: { variable: Variable; onChanged: () => void }) {
  const action = useAction(onChanged);
  const { name } = variable;
  return (
    <tr>
      <td>
        <code>{name}</code>
      </td>
      <td>
        <ValueEditor variable={variable} onChanged={onChanged} />
      </td>
      <td>
        <Tags tags={variable.tags} />
      </td>
      <td>
        <Time value={variable.updated} />
      </td>
      <RowActions error={action.error}>
        <ConfirmActionButton
          action={action}
          label="Delete"
          question={`Delete the variable ${name}?`}
          send={(client) => client.api.deleteVariable({ params: { name } })}
        />
      </RowActions>
    </tr>
  );
}

/** A new variable; an existing name is refused by the server (its value is changed in its row). */
function CreateVariable({ onCreated }: { onCreated: () => void }) {
  const action = useAction(onCreated);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [tags, setTags] = useState("");
  async function submit(): Promise<void> {
    const created = await action.run("create", (client) =>
      client.api.createVariable({
        body: { name: name.trim(), value: jsonOrString(value), tags: tagList(tags) },
      }),
    );
    if (!created) return;
    setName("");
    setValue("");
    setTags("");
  }
  return (
    <InlineForm
      label="New variable"
      action={action}
      ready={name.trim() !== ""}
      submitLabel="Add variable"
      busyLabel="Adding…"
      onSubmit={submit}
    >
      <InlineField label="Name" value={name} onChange={setName} placeholder="region" />
      <InlineField
        label="Value"
        value={value}
        onChange={setValue}
        title={VALUE_HINT}
        spellCheck={false}
        placeholder="eu-west-1"
      />
      <InlineField label="Tags" value={tags} onChange={setTags} placeholder="infra, eu" />
    </InlineForm>
  );
}

export function VariablesPage() {
  useTitle("Variables");
  const variables = usePagedList<Variable>(
    (client, page, signal) => client.api.listVariables({ query: page }, signal),
    [],
    { pageSize: 200 },
  );

  return (
    <>
      <PageHeader title="Variables" />
      <p className="muted intro">
        Named JSON values that flows read their configuration from, with <code>variables.get</code>. A value
        typed here is JSON when it parses (<code>25</code>, <code>true</code>, <code>[&quot;a&quot;]</code>),
        else a string.
      </p>
      <CreateVariable onCreated={variables.refresh} />
      <PagedTable
        list={variables}
        label="Variables"
        columns={["Name", "Value", "Tags", "Updated", ""]}
        row={(variable) => <VariableRow variable={variable} onChanged={variables.refresh} />}
        loading="Loading variables…"
        empty={
          <EmptyState title="No variables.">Add one above, or with baton variable set NAME VALUE.</EmptyState>
        }
      />
    </>
  );
}
