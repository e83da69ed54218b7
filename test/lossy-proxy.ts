import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** A request as the proxy passed it on, and what became of its answer. */
export interface ProxiedRequest {
  method: string;
  path: string;
  body: string;
  /** The server answered and the proxy dropped the connection instead of passing the answer on. */
  lost: boolean;
}

/**
 * An HTTP proxy in front of a Baton server that loses answers: each request is passed on and the
 * server's answer read in full, but an answer that `lose` picks is not passed back (the client's
 * connection is dropped), as when the server dies right after its COMMIT.
 */
export async function lossyProxy(
  target: string,
  lose: (request: ProxiedRequest, answer: { status: number; body: string }) => boolean,
): Promise<{ url: string; requests: ProxiedRequest[]; stop(): Promise<void> }> {
  const origin = new URL(target).origin;
  const requests: ProxiedRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const proxied: ProxiedRequest = {
        method: request.method ?? "GET",
        path: request.url ?? "/",
        body: Buffer.concat(chunks).toString(),
        lost: false,
      };
      requests.push(proxied);
      void forward(origin, proxied, request.headers).then(
        (answer) => {
          if (lose(proxied, answer)) {
            proxied.lost = true;
            request.socket.destroy();
            return;
          }
          response.writeHead(answer.status, { "content-type": answer.contentType });
          response.end(answer.body);
        },
        () => request.socket.destroy(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${new URL(target).pathname.replace(/\/$/, "")}`,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function forward(origin: string, request: ProxiedRequest, headers: IncomingHttpHeaders) {
  const passed = new Headers();
  for (const name of ["content-type", "authorization", "accept"]) {
    const value = headers[name];
    if (typeof value === "string") passed.set(name, value);
  }
  const answer = await fetch(origin + request.path, {
    method: request.method,
    headers: passed,
    ...(request.method === "GET" || request.method === "HEAD" ? {} : { body: request.body }),
  });
  return {
    status: answer.status,
    contentType: answer.headers.get("content-type") ?? "text/plain",
    body: await answer.text(),
  };
}
