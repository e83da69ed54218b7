import type { JsonObject, Webhook, WebhookTemplate } from "@baton/core";
import { useState } from "react";
import { useAction, usePagedList } from "../api.js";
import { Badge, ConfirmActionButton, EmptyState, PageHeader, Time, useTitle } from "../components.js";
import { InlineField, InlineForm } from "../inline-form.js";
import { PagedTable, RowActions } from "../paged-table.js";
import { Link } from "../router.js";

/** Where callers reach a webhook: this server (the dashboard is served by it) and the hook's path. */
const urlOf = (webhook: Pick<Webhook, "path">): string => new URL(webhook.path, window.location.origin).href;

/** A token of 192 random bits, URL-safe, made in the browser and shown once. */
function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Copies text to the clipboard, and says whether it did. */
function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);
  async function copy(): Promise<void> {
    try {
      // Only secure contexts (https, or this machine) have a clipboard.
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(text);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  }
  return (
    <button type="button" className="button small" title={label} onClick={() => void copy()}>
      {copied === "yes" ? "Copied" : copied === "no" ? "Select and copy it" : label}
    </button>
  );
}

function WebhookRow({ webhook, onChanged }: { webhook: Webhook; onChanged: () => void }) {
  const action = useAction(onChanged);
  const { name } = webhook;
  const url = urlOf(webhook);
  const toggle = () =>
    void action.run(webhook.enabled ? "disable" : "enable", (client) =>
      client.api.updateWebhook({ params: { name }, body: { enabled: !webhook.enabled } }),
    );
  return (
    <tr>
      <td>
        <code>{name}</code>
        {webhook.description ? <div className="muted small">{webhook.description}</div> : null}
      </td>
      <td>
        <span className="variable-value">
          <code className="small" title={url}>
            {url}
          </code>
          <CopyButton text={url} label="Copy URL" />
        </span>
      </td>
      <td>
        <code className="small" title={JSON.stringify(webhook.template)}>
          {webhook.template.event}
        </code>
      </td>
      <td>{webhook.hasToken ? "required" : <span className="muted">none</span>}</td>
      <td>{webhook.enabled ? <Badge tone="ok">Enabled</Badge> : <Badge tone="off">Disabled</Badge>}</td>
      <td>
        <Time value={webhook.created} />
      </td>
      <RowActions error={action.error}>
        <button
          type="button"
          className="button small"
          aria-label={`${webhook.enabled ? "Disable" : "Enable"} ${name}`}
          disabled={action.busy !== null}
          onClick={toggle}
        >
          {webhook.enabled ? "Disable" : "Enable"}
        </button>
        <ConfirmActionButton
          action={action}
          label="Delete"
          question={`Delete the webhook ${name}? Its URL will answer 404.`}
          send={(client) => client.api.deleteWebhook({ params: { name } })}
        />
      </RowActions>
    </tr>
  );
}

const PAYLOAD_HINT =
  'A JSON object whose strings are templates, e.g. {"ref": "{{ body.ref }}"}; empty: the body';

/** A new webhook; with a token, the token is made here and shown once. */
function CreateWebhook({ onCreated }: { onCreated: (webhook: Webhook, token: string | null) => void }) {
  const action = useAction();
  const [name, setName] = useState("");
  const [event, setEvent] = useState("");
  const [payload, setPayload] = useState("");
  const [withToken, setWithToken] = useState(true);
  const [payloadError, setPayloadError] = useState<Error | null>(null);

  async function submit(): Promise<void> {
    const template: WebhookTemplate = { event: event.trim() };
    if (payload.trim() !== "") {
      try {
        template.payload = JSON.parse(payload) as JsonObject;
      } catch (error) {
        setPayloadError(new Error(`The payload is not JSON: ${(error as Error).message}`));
        return;
      }
    }
    setPayloadError(null);
    const token = withToken ? newToken() : null;
    const created = await action.run("create", (client) =>
      client.api.createWebhook({ body: { name: name.trim(), template, ...(token ? { token } : {}) } }),
    );
    if (!created) return;
    onCreated(created.value, token);
    setName("");
    setEvent("");
    setPayload("");
  }

  return (
    <InlineForm
      label="New webhook"
      action={action}
      ready={name.trim() !== "" && event.trim() !== ""}
      submitLabel="Create webhook"
      busyLabel="Creating…"
      error={payloadError}
      onSubmit={submit}
    >
      <InlineField label="Name" value={name} onChange={setName} placeholder="github" />
      <InlineField
        label="Event"
        value={event}
        onChange={setEvent}
        spellCheck={false}
        title="The event's name, or a template of it"
        placeholder="github.{{ headers.x-github-event }}"
      />
      <InlineField
        label="Payload"
        value={payload}
        onChange={setPayload}
        spellCheck={false}
        title={PAYLOAD_HINT}
        placeholder='{"ref": "{{ body.ref }}"}'
      />
      <label className="field-inline">
        <input
          type="checkbox"
          checked={withToken}
          onChange={(change) => setWithToken(change.target.checked)}
        />
        Require a token
      </label>
    </InlineForm>
  );
}

export function WebhooksPage() {
  useTitle("Webhooks");
  const webhooks = usePagedList<Webhook>(
    (client, page, signal) => client.api.listWebhooks({ query: page }, signal),
    [],
    { pageSize: 200 },
  );
  const [fresh, setFresh] = useState<{ name: string; token: string } | null>(null);

  return (
    <>
      <PageHeader title="Webhooks">
        <Link href="/events">Events</Link>
      </PageHeader>
      <p className="muted intro">
        URLs under this server that turn any HTTP request into a custom event by a template: the event&apos;s
        name and payload from the request&apos;s <code>{"{{ body.… }}"}</code>,{" "}
        <code>{"{{ headers.… }}"}</code>, <code>{"{{ query.… }}"}</code> and <code>{"{{ method }}"}</code>.
        Automations can trigger on the events. Callers need no API key; a webhook with a token needs its
        token. A disabled webhook answers 404.
      </p>
      <CreateWebhook
        onCreated={(webhook, token) => {
          setFresh(token ? { name: webhook.name, token } : null);
          webhooks.refresh();
        }}
      />
      {fresh ? (
        <div className="notice" role="status" aria-label="New token">
          <p>
            The token of <code>{fresh.name}</code>, shown this once: callers send it as{" "}
            <code>Authorization: Bearer &lt;token&gt;</code> or an <code>X-Baton-Webhook-Token</code> header.
          </p>
          <span className="variable-value">
            <code>{fresh.token}</code>
            <CopyButton text={fresh.token} label="Copy token" />
            <button type="button" className="button small" onClick={() => setFresh(null)}>
              Done
            </button>
          </span>
        </div>
      ) : null}
      <PagedTable
        list={webhooks}
        label="Webhooks"
        columns={["Name", "URL", "Event", "Token", "Status", "Created", ""]}
        row={(webhook) => <WebhookRow webhook={webhook} onChanged={webhooks.refresh} />}
        loading="Loading webhooks…"
        empty={
          <EmptyState title="No webhooks.">
            Create one above, or with baton webhook create NAME --template &apos;…&apos;.
          </EmptyState>
        }
      />
    </>
  );
}
