import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { BatonClient } from "./node.js";

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A local server answering every request with `answer`; the URL of its API. */
async function serving(
  answer: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<string> {
  server = createServer(answer);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: unknown) => error,
  );

describe("the client's node export", () => {
  it("sends calls through node:http, bodies and all, and reads the answer", async () => {
    const seen: { method?: string; url?: string; agent?: string; body: string }[] = [];
    const url = await serving((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => (body += chunk));
      request.on("end", () => {
        seen.push({ method: request.method, url: request.url, agent: request.headers["user-agent"], body });
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify({ id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", name: "é-flow" }));
      });
    });
    const client = new BatonClient({ url });
    const flow = await client.api.createFlow({ body: { name: "é-flow" } });
    expect(flow).toMatchObject({ name: "é-flow" });
    // fetch would say `user-agent: node`; node:http sends none.
    expect(seen).toEqual([
      { method: "POST", url: "/api/flows", agent: undefined, body: '{"name":"é-flow"}' },
    ]);
  });

  it("says a server that cannot be reached, or that drops the answer halfway, is unavailable", async () => {
    const url = await serving((_request, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      response.write('{"status":');
      response.destroy();
    });
    const dropped = await rejection(new BatonClient({ url }).api.health());
    expect(dropped).toBeInstanceOf(BatonError);
    expect((dropped as BatonError).code).toBe("unavailable");

    server!.close();
    const gone = await rejection(new BatonClient({ url }).api.health());
    expect((gone as BatonError).code).toBe("unavailable");
    expect((gone as BatonError).message).toMatch(/ECONNREFUSED/);
  });

  it("stops a call its signal aborts, as the abort it is", async () => {
    const url = await serving(() => undefined); // never answers
    const controller = new AbortController();
    const call = rejection(new BatonClient({ url }).api.health(undefined, controller.signal));
    controller.abort();
    expect((await call) as Error).toMatchObject({ name: "AbortError" });
  });
});
