// A Baton server in a process of its own, for bench/server.ts: `server-process.mjs DATABASE_URL HOME`.
// Plain JavaScript on the built packages, as users run the server. Prints {"apiUrl": …} on one line
// once listening; closes and exits when stdin ends (so also when the benchmark process dies).
import { startServer } from "@baton/server";

const [databaseUrl, home] = process.argv.slice(2);
if (!databaseUrl || !home) throw new Error("usage: server-process.mjs DATABASE_URL HOME");
const server = await startServer({ host: "127.0.0.1", port: 0, databaseUrl, home, apiKey: undefined });
process.stdout.write(`${JSON.stringify({ apiUrl: server.apiUrl })}\n`);
process.stdin.resume();
process.stdin.once("end", () => {
  server.close().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
});
