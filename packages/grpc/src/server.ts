import { createServer, type Http2Server, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

export interface GrpcServer {
  port: number;
  server: Http2Server;
  close(): Promise<void>;
}

/**
 * Serves Connect routes over HTTP/2 without TLS (h2c), which gRPC clients (grpc-js, grpcurl
 * -plaintext, Python grpcio with an insecure channel), gRPC-Web and Connect clients all speak.
 */
export async function startGrpcServer(options: {
  routes: (router: ConnectRouter) => void;
  port?: number;
  host?: string;
}): Promise<GrpcServer> {
  const server = createServer(connectNodeAdapter({ routes: options.routes }));
  // Clients keep their HTTP/2 sessions open; close() ends them so the server can stop.
  const sessions = new Set<Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close();
      }),
  };
}
