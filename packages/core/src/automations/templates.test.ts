import { describe, expect, it } from "vitest";
import { defaultMessage, renderJson, renderTemplate, renderTyped, type TemplateValues } from "./templates.js";

const values: TemplateValues = {
  automation: { id: "a1", name: "alerts" },
  event: {
    id: "e1",
    name: "flow-run.state-changed",
    occurred: "2030-01-01T00:00:00.000Z",
    payload: { count: 3, items: [{ sku: "a-1" }], note: null },
  },
  resource: { kind: "flow-run", id: "r1" },
  flow_run: { id: "r1", name: "brave-otter", url: "http://ui/runs/r1" },
  flow: { name: "etl" },
  deployment: { name: "daily", full_name: "etl/daily" },
  work_pool: null,
  state: { type: "FAILED", name: "Failed", message: "disk full" },
  trigger: {
    type: "event",
    posture: "reactive",
    events: ["flow-run.state-changed"],
    within_seconds: null,
    threshold: 1,
  },
};

describe("renderTemplate", () => {
  it("replaces dotted paths, with or without spaces inside the braces", () => {
    expect(renderTemplate("{{ flow_run.name }} of {{flow.name}} is {{  state.name  }}", values)).toBe(
      "brave-otter of etl is Failed",
    );
  });

  it("renders what is missing or null as nothing, and objects as JSON", () => {
    expect(renderTemplate("[{{ work_pool.name }}][{{ nope }}][{{ flow }}]", values)).toBe(
      '[][][{"name":"etl"}]',
    );
  });

  it("never evaluates anything: expressions stay as written, inherited properties are not found", () => {
    const tricky =
      "{{ 1 + 1 }} {{ flow_run.name.constructor }} {{ constructor }} {{ __proto__ }} {{ process.env }}";
    expect(renderTemplate(tricky, values)).toBe("{{ 1 + 1 }}    ");
  });
});

describe("renderJson", () => {
  it("renders every string of a JSON value and keeps its shape", () => {
    expect(
      renderJson({ text: "{{ state.name }}", list: ["{{ flow.name }}", 2, null], ok: true }, values),
    ).toEqual({
      text: "Failed",
      list: ["etl", 2, null],
      ok: true,
    });
  });
});

describe("defaultMessage", () => {
  it("says which run of which flow and deployment is in which state, with the link", () => {
    expect(defaultMessage(values)).toBe(
      "Baton automation 'alerts': flow run 'brave-otter' (flow 'etl', deployment 'etl/daily') is Failed: disk full http://ui/runs/r1",
    );
  });

  it("says what did not happen for a proactive trigger", () => {
    const proactive: TemplateValues = {
      ...values,
      event: null,
      resource: null,
      flow_run: null,
      flow: null,
      deployment: null,
      state: null,
      trigger: {
        type: "event",
        posture: "proactive",
        events: ["flow-run.state-changed"],
        within_seconds: 3600,
        threshold: 1,
      },
    };
    expect(defaultMessage(proactive)).toBe(
      "Baton automation 'alerts': no flow-run.state-changed event matched for 3600 s.",
    );
  });
});

describe("renderTyped", () => {
  it("keeps the type of a value a string names alone, and renders other strings as text", () => {
    expect(
      renderTyped(
        {
          count: "{{ event.payload.count }}",
          first: "{{event.payload.items.0}}",
          missing: "{{ event.payload.nope }}",
          empty: "{{ event.payload.note }}",
          text: "{{ event.payload.count }} items",
          fixed: 7,
        },
        values,
      ),
    ).toEqual({ count: 3, first: { sku: "a-1" }, missing: null, empty: null, text: "3 items", fixed: 7 });
  });

  it("looks up names with dashes (headers) list items by index and a list's length, never inherited properties", () => {
    const request = { headers: { "x-github-event": "push" }, body: { list: ["x"] } };
    expect(renderTemplate("{{ headers.x-github-event }}/{{ body.list.0 }}", request)).toBe("push/x");
    expect(renderTyped("{{ body.list.length }}", request)).toBe(1);
    expect(renderTyped("{{ body.constructor }}", request)).toBeNull();
  });
});
