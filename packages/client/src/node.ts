/// <reference types="node" />
// The client in Node.js (this package's "node" export): its calls go through node:http(s), which
// costs a quarter of what fetch does per call to a local server (docs/performance.md); the event
// stream keeps fetch, whose body is a web stream. Everything else is the browser-safe client's.
import http from "node:http";
import https from "node:https";
import { setDefaultTransport, type Transport } from "./client.js";

/** As long as fetch (undici) waits for a server that says nothing, before it gives up. */
const SILENCE_MS = 300_000;

/** Node's global agents keep connections alive (and drop idle ones after 5 s). */
const nodeTransport: Transport = (url, { method, headers, body, signal }) =>
  new Promise((resolve, reject) => {
    const request = (url.startsWith("https:") ? https : http).request(
      url,
      { method, headers, ...(signal ? { signal } : {}) },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.setTimeout(SILENCE_MS, () =>
      request.destroy(new Error(`the server said nothing for ${SILENCE_MS / 1000} s`)),
    );
    request.end(body);
  });

setDefaultTransport(nodeTransport);

export * from "./index.js";
