import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server standing in for Slack and webhook endpoints: it records every request and
 * answers each path with the statuses it was told, in order, then 200 "ok". A failing answer's body
 * quotes the request's path, as some servers do, so that masking the secret URL is put to the test.
 */
export class Hooks {
  readonly requests: { path: string; body: unknown }[] = [];
  readonly #script = new Map<string, number[]>();
  readonly #server: Server = createServer((request, response) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString()));
    request.on("end", () => {
      const path = request.url ?? "";
      this.requests.push({ path, body: JSON.parse(text) as unknown });
      const status = this.#script.get(path)?.shift() ?? 200;
      response.writeHead(status, { "content-type": "text/plain" });
      response.end(status === 200 ? "ok" : `no luck with ${path}`);
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  }
  stop = (): Promise<void> => new Promise((resolve) => this.#server.close(() => resolve()));
  url = (path: string): string => `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  answer(path: string, statuses: number[]): void {
    this.#script.set(path, statuses);
  }
  to = (path: string) => this.requests.filter((request) => request.path === path);
}
