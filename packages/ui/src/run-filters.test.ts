import { describe, expect, it } from "vitest";
import {
  flowRunQuery,
  fromLocalInput,
  isFiltered,
  readFilters,
  toLocalInput,
  withFilter,
} from "./run-filters.js";

const now = Date.parse("2026-11-23T10:30:00Z");
const read = (query: string) => readFilters(new URLSearchParams(query));

describe("the runs list's filters in the URL", () => {
  it("are read from their parameters, ignoring what they cannot be", () => {
    expect(
      read("state=FAILED&flow=f1&deployment=d1&pool=k8s&tag=%20nightly%20&after=2026-11-23T00:00:00.000Z"),
    ).toEqual({
      stateType: "FAILED",
      stateName: null,
      flowId: "f1",
      deploymentId: "d1",
      workPoolName: "k8s",
      tag: "nightly",
      range: null,
      after: "2026-11-23T00:00:00.000Z",
      before: null,
    });
    expect(read("state=BOGUS&range=2w&after=yesterday&tag=")).toMatchObject({
      stateType: null,
      range: null,
      after: null,
      tag: null,
    });
    expect(isFiltered(read(""))).toBe(false);
    expect(isFiltered(read("pool=k8s"))).toBe(true);
  });

  it("change one at a time, keeping the others", () => {
    const search = new URLSearchParams("state=FAILED&tag=a");
    expect(withFilter(search, { flowId: "f1" })).toBe("state=FAILED&tag=a&flow=f1");
    expect(withFilter(search, { tag: null, range: "24h" })).toBe("state=FAILED&range=24h");
  });

  it("make the list's query, a relative range measured back from now", () => {
    expect(flowRunQuery(read("flow=f1&pool=k8s&tag=nightly&range=24h"), now)).toEqual({
      flowId: "f1",
      workPoolName: "k8s",
      tag: "nightly",
      createdAfter: "2026-11-22T10:30:00.000Z",
    });
    // A range wins over a fixed span.
    expect(
      flowRunQuery(read("range=1h&after=2026-01-01T00:00:00Z&before=2026-02-01T00:00:00Z"), now),
    ).toEqual({ createdAfter: "2026-11-23T09:30:00.000Z" });
    expect(
      flowRunQuery(read("deployment=d1&after=2026-01-01T00:00:00Z&before=2026-02-01T00:00:00Z"), now),
    ).toEqual({
      deploymentId: "d1",
      createdAfter: "2026-01-01T00:00:00Z",
      createdBefore: "2026-02-01T00:00:00Z",
    });
  });

  it("ask for a known state name's type too, so that the server can use its index", () => {
    expect(flowRunQuery(read("stateName=Late"), now)).toEqual({
      stateType: ["SCHEDULED"],
      stateName: "Late",
    });
    expect(flowRunQuery(read("stateName=Mine"), now)).toEqual({ stateName: "Mine" });
    expect(flowRunQuery(read("state=RUNNING&stateName=Retrying"), now)).toEqual({
      stateType: ["RUNNING"],
      stateName: "Retrying",
    });
    expect(flowRunQuery(read("stateName=toString"), now)).toEqual({ stateName: "toString" });
  });

  it("go to and from datetime-local inputs in the browser's time zone", () => {
    const iso = "2026-11-23T10:30:00.000Z";
    expect(fromLocalInput(toLocalInput(iso))).toBe(iso);
    expect(toLocalInput(null)).toBe("");
    expect(fromLocalInput("")).toBeNull();
  });
});
