import type { Secret } from "@baton/core";
import { useState } from "react";
import { useAction, usePagedList, type PagedList } from "./api.js";
import { ConfirmActionButton, Time } from "./components.js";
import { pluralize } from "./format.js";
import { InlineField, InlineForm } from "./inline-form.js";
import { PagedTable, RowActions } from "./paged-table.js";

/** The secrets there are: names and lengths only, as the API answers. */
export function useSecrets(): PagedList<Secret> {
  return usePagedList<Secret>((client, page, signal) => client.api.listSecrets({ query: page }, signal), [], {
    pageSize: 200,
  });
}

/**
 * Sets a secret. The value box is left to the browser (never React state nor an attribute), read
 * once when sent and then emptied, so the value is never part of the page.
 */
function SetSecretForm({ onSet }: { onSet: () => void }) {
  const action = useAction(onSet);
  const [name, setName] = useState("");
  const [hasValue, setHasValue] = useState(false);
  async function submit(form: HTMLFormElement): Promise<void> {
    const value = new FormData(form).get("value");
    if (typeof value !== "string" || value === "" || name.trim() === "") return;
    const set = await action.run("set", (client) =>
      client.api.setSecret({ body: { name: name.trim(), value } }),
    );
    if (!set) return;
    form.reset();
    setName("");
    setHasValue(false);
  }
  return (
    <InlineForm
      label="Set a secret"
      className="inline-form"
      action={action}
      ready={hasValue && name.trim() !== ""}
      submitLabel="Set secret"
      busyLabel="Setting…"
      onSubmit={submit}
    >
      <InlineField label="Name" value={name} onChange={setName} placeholder="slack-data-team" />
      <label className="field-inline">
        Value
        <input
          name="value"
          type="password"
          autoComplete="new-password"
          spellCheck={false}
          placeholder="https://hooks.slack.com/services/…"
          onInput={(event) => setHasValue(event.currentTarget.value !== "")}
        />
      </label>
    </InlineForm>
  );
}

function SecretRow({ secret, onChanged }: { secret: Secret; onChanged: () => void }) {
  const action = useAction(onChanged);
  return (
    <tr>
      <td>
        <code>{secret.name}</code>
      </td>
      <td className="muted">{pluralize(secret.valueLength, "character")}</td>
      <td>
        <Time value={secret.updated} />
      </td>
      <RowActions error={action.error}>
        <ConfirmActionButton
          action={action}
          label="Delete"
          question={`Delete the secret ${secret.name}?`}
          send={(client) => client.api.deleteSecret({ params: { name: secret.name } })}
        />
      </RowActions>
    </tr>
  );
}

/** Secrets: set (name and value, write-only), listed by name, deleted. */
export function SecretsSection({ secrets }: { secrets: PagedList<Secret> }) {
  return (
    <section className="card secrets" aria-label="Secrets">
      <h2>Secrets</h2>
      <p className="muted">
        URLs with tokens (Slack&apos;s incoming webhooks) and other credentials, named by notifications.
        Values are write-only: the server shows their length, never the value. Setting a name again replaces
        it.
      </p>
      <SetSecretForm onSet={secrets.refresh} />
      <PagedTable
        list={secrets}
        label="Secret names"
        compact
        columns={["Name", "Value", "Updated", ""]}
        row={(secret) => <SecretRow secret={secret} onChanged={secrets.refresh} />}
        loading="Loading secrets…"
        empty={<p className="muted">No secrets yet.</p>}
      />
    </section>
  );
}
