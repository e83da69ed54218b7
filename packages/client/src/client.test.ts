import { describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { BatonClient } from "./client.js";

/** A client whose every request is answered with this status and body. */
const answering = (status: number, body: string, type = "text/html") =>
  new BatonClient({
    url: "http://baton.test/api",
    fetch: async () => new Response(body, { status, headers: { "content-type": type } }),
  });

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof BatonError ? error.code : String(error)),
  );

const HAPROXY_502 =
  "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>";
const PROBLEM_504 = JSON.stringify({
  type: "about:blank",
  title: "Timed out",
  status: 504,
  detail: "the database did not answer in time",
  code: "timeout",
});

describe("a proxy's answer when the server behind it is gone", () => {
  it.each([
    [502, "HAProxy's page", "unavailable", HAPROXY_502],
    [503, "a proxy's page", "unavailable", "<html><body><h1>503 Service Unavailable</h1></body></html>"],
    [504, "a proxy's page", "unavailable", "<html><body><h1>504 Gateway Time-out</h1></body></html>"],
    [504, "the server's problem document", "timeout", PROBLEM_504], // it keeps its code
    [500, "a page", "internal", "<html>oops</html>"],
  ])("%i with %s is %s, for calls and event streams", async (status, _what, code, body) => {
    const client = answering(status, body);
    expect(await codeOf(client.api.readFlowRun({ params: { id: "x" } }))).toBe(code);
    expect(await codeOf(client.events({}, () => {}))).toBe(code);
  });
});
