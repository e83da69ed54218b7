import type { Automation } from "@baton/core";
import type { RJSFSchema } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import { describe, expect, it } from "vitest";
import {
  automationSchema,
  bodyIssues,
  changesFrom,
  checkAutomation,
  cleanDraft,
  draftOf,
  formTakes,
  NEW_AUTOMATION,
} from "./automation-model.js";
import { actionSummary, triggerSummary } from "./automation-text.js";

const validator = customizeValidator({ ajvOptionsOverrides: { discriminator: true } });

const stored: Automation = {
  id: "01a20896-0000-7000-8000-000000000000",
  name: "etl failures",
  description: "tell the data team",
  enabled: true,
  deploymentId: null,
  trigger: { events: ["flow-run.state-changed"], stateTypes: ["FAILED"], posture: "reactive", threshold: 1 },
  actions: [{ type: "slack", secret: "slack-data-team", text: "{{ flow_run.name }} failed" }],
  created: "2024-05-01T10:00:00.000Z",
  updated: "2024-05-01T10:00:00.000Z",
};

describe("automationSchema", () => {
  const schema = automationSchema();
  const properties = schema.properties as Record<string, RJSFSchema>;
  const trigger = properties.trigger!.properties as Record<string, RJSFSchema>;
  const actions = properties.actions!.items as RJSFSchema;

  it("is draft-07 the form can draw: a plain description, choices as unique lists, no recursive JSON", () => {
    expect(schema.$schema).toBeUndefined();
    expect(JSON.stringify(schema)).not.toContain("$defs");
    expect(properties.description).toEqual({ type: "string", maxLength: 10_000 });
    // Baton's events and custom names: drawn by the form's own events field.
    expect(trigger.events).toMatchObject({ type: "array", minItems: 1, items: { type: "string" } });
    expect(trigger.stateTypes).toMatchObject({ uniqueItems: true });
    expect(trigger.flows).not.toHaveProperty("uniqueItems");
  });

  it("names each kind of action and picks it by its type", () => {
    expect(actions.discriminator).toEqual({ propertyName: "type" });
    const options = actions.oneOf as RJSFSchema[];
    expect(options.map((option) => option.title)).toEqual([
      "Test sink: record the message, send nothing",
      "Slack message",
      "Webhook: POST JSON",
      "Run a deployment",
      "Cancel the event's flow run",
      "Notify several destinations",
      "Change a flow run's state",
      "Suspend a running flow run until resumed",
      "Resume a paused flow run",
      "Pause a deployment",
      "Pause a work pool",
    ]);
    const webhook = options[2]!.properties as Record<string, RJSFSchema>;
    expect(webhook.body).toEqual({ title: "body" });
    expect((options[3]!.properties as Record<string, RJSFSchema>).parameters).toEqual({ type: "object" });
  });

  it("draws event and metric triggers, and sends compound and sequence triggers to the JSON editor", () => {
    expect(trigger.type).toBeDefined();
    expect(properties.trigger).not.toHaveProperty("oneOf");
    expect(formTakes(NEW_AUTOMATION)).toBeNull();
    expect(formTakes({ trigger: { type: "sequence", triggers: [], within: 5 } })).toBe(
      "The form draws event and metric triggers; a sequence trigger is edited as JSON.",
    );
    expect(formTakes({ trigger: { type: "metric" } })).toBeNull();
  });

  it("takes a new automation, and says which field of which action is missing", () => {
    const named = { ...NEW_AUTOMATION, name: "failures" };
    expect(validator.validateFormData(named, schema).errors).toEqual([]);
    const { errors } = validator.validateFormData(
      { ...named, actions: [{ type: "test-sink" }, { type: "slack" }] },
      schema,
    );
    expect(errors.map((error) => [error.property, error.name])).toEqual([[".actions.1.secret", "required"]]);
  });
});

describe("cleanDraft and checkAutomation", () => {
  it("leaves out blank fields, but not what a webhook's body holds", () => {
    const draft = {
      name: "hook",
      description: "",
      trigger: { events: ["worker.offline"], flows: [], tags: undefined },
      actions: [
        { type: "webhook", secret: "s", body: { empty: "", list: [] } },
        { type: "test-sink", text: "" },
      ],
    };
    expect(cleanDraft(draft)).toEqual({
      name: "hook",
      trigger: { events: ["worker.offline"] },
      actions: [{ type: "webhook", secret: "s", body: { empty: "", list: [] } }, { type: "test-sink" }],
    });
    expect(checkAutomation(cleanDraft(draft))).toMatchObject({ ok: true, value: { enabled: true } });
  });

  it("checks the rules between fields as the server does, naming the field", () => {
    const checked = checkAutomation({
      ...NEW_AUTOMATION,
      name: "quiet",
      trigger: { events: ["worker.offline"], posture: "proactive" },
    });
    expect(checked).toEqual({
      ok: false,
      issues: [
        {
          path: "trigger.withinSeconds",
          message:
            "a proactive trigger needs withinSeconds: how long without a matching event before it fires",
        },
      ],
    });
  });

  it("reads the server's issues as paths of the form", () => {
    expect(
      bodyIssues([
        { path: "body.trigger.events", message: "is required" },
        { path: "body", message: "unknown field(s) 'x': remove them" },
      ]),
    ).toEqual([
      { path: "trigger.events", message: "is required" },
      { path: "(automation)", message: "unknown field(s) 'x': remove them" },
    ]);
  });
});

describe("changesFrom", () => {
  const edit = (change: Record<string, unknown>) => {
    const checked = checkAutomation(cleanDraft({ ...draftOf(stored), ...change }));
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    return changesFrom(stored, checked.value);
  };

  it("sends only what changed, so that an edited text keeps the trigger's count", () => {
    expect(edit({})).toEqual({});
    // The trigger in another key order, without its defaults: the same trigger.
    expect(edit({ trigger: { stateTypes: ["FAILED"], events: ["flow-run.state-changed"] } })).toEqual({});
    const actions = [{ type: "slack", secret: "slack-data-team", text: "{{ flow_run.name }} broke" }];
    expect(edit({ actions })).toEqual({ actions });
    expect(edit({ trigger: { events: ["flow-run.state-changed"] } })).toEqual({
      trigger: { events: ["flow-run.state-changed"], posture: "reactive", threshold: 1 },
    });
  });

  it("clears a description emptied in the form", () => {
    expect(edit({ description: "" })).toEqual({ description: null });
  });
});

describe("summaries", () => {
  it("says a trigger and its actions in a line", () => {
    expect(triggerSummary(stored.trigger)).toBe("flow-run.state-changed · state FAILED");
    expect(
      triggerSummary({
        events: ["flow-run.state-changed"],
        deployments: ["etl/hourly"],
        stateTypes: ["COMPLETED"],
        posture: "proactive",
        threshold: 1,
        withinSeconds: 3600,
      }),
    ).toBe("flow-run.state-changed · state COMPLETED · deployment etl/hourly · none for 3600 s");
    expect(
      triggerSummary({ events: ["worker.offline"], posture: "reactive", threshold: 3, withinSeconds: 60 }),
    ).toBe("worker.offline · 3 within 60 s");
    const paid = { events: ["shop.paid"], posture: "reactive" as const, threshold: 1 };
    const shipped = { events: ["shop.shipped"], posture: "reactive" as const, threshold: 1 };
    expect(
      triggerSummary({ type: "compound", require: "all", triggers: [paid, shipped], within: 3600 }),
    ).toBe("all of (shop.paid | shop.shipped) within 3600 s");
    expect(triggerSummary({ type: "compound", require: 2, triggers: [paid, shipped], within: 60 })).toBe(
      "2 of (shop.paid | shop.shipped) within 60 s",
    );
    expect(triggerSummary({ type: "sequence", triggers: [paid, shipped], within: 60 })).toBe(
      "shop.paid, then shop.shipped, within 60 s",
    );
    expect(
      triggerSummary({
        type: "metric",
        metric: "failure-ratio",
        operator: ">",
        threshold: 0.5,
        rangeSeconds: 3600,
        firingForSeconds: 300,
        minRuns: 1,
        deployments: ["etl/prod"],
      }),
    ).toBe("failure-ratio > 0.5 over 3600 s · deployment etl/prod · for 300 s");
    expect(
      actionSummary({
        type: "send-notification",
        destinations: [
          { type: "slack", secret: "team" },
          { type: "webhook", secret: "pager" },
        ],
      }),
    ).toBe("send-notification (slack team, webhook pager)");
    expect(actionSummary({ type: "change-flow-run-state", state: "FAILED", name: "Rejected" })).toBe(
      "change-flow-run-state of the event to Rejected",
    );
    expect(stored.actions.map(actionSummary)).toEqual(["slack (slack-data-team)"]);
    expect(actionSummary({ type: "pause-work-pool" })).toBe("pause-work-pool");
    expect(actionSummary({ type: "run-deployment", deployment: "etl/prod" })).toBe("run-deployment etl/prod");
  });
});
