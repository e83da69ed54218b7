import { isIP } from "node:net";
import { Command, InvalidArgumentError } from "commander";
import { BatonError } from "@baton/core";
import { bold, dim } from "../output.js";

// The server and its database drivers load only for these commands, so the others start fast.
const loadServer = () => import("@baton/server");

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`'${value}' is not a port number (0–65535)`);
  }
  return port;
}

/** Addresses only this machine can reach: the one kind a server may listen on without an API key. */
function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/**
 * A server that others can reach answers anyone who finds it: it needs an API key, or an explicit
 * statement that something else (a private network, a proxy that checks keys) keeps strangers out.
 */
function refuseOpenServer(host: string, apiKey: string | undefined, insecure: boolean): void {
  if (apiKey || insecure || isLoopback(host)) return;
  throw new BatonError(
    "invalid_argument",
    `refusing to listen on ${host} without an API key: anyone who can reach it could run and change ` +
      "anything. Set BATON_API_KEY (clients send it too), listen on 127.0.0.1, or pass " +
      "--insecure-no-api-key (BATON_INSECURE_NO_API_KEY=true) if something else keeps strangers out.",
  );
}

interface DatabaseOptions {
  databaseUrl?: string;
}

interface StartOptions extends DatabaseOptions {
  host?: string;
  port?: number;
  insecureNoApiKey?: boolean;
}

export function serverCommand(): Command {
  const server = new Command("server").description("Run the Baton server");

  server
    .command("start")
    .description("Start the API server and dashboard (SQLite under BATON_HOME unless --database-url)")
    .option("--host <host>", "address to listen on (BATON_SERVER_HOST)")
    .option("--port <port>", "port to listen on (BATON_SERVER_PORT)", parsePort)
    .option("--database-url <url>", "postgres://… or a SQLite file path (BATON_DATABASE_URL)")
    .option(
      "--insecure-no-api-key",
      "listen beyond this machine without an API key (BATON_INSECURE_NO_API_KEY=true)",
    )
    .action(async (options: StartOptions) => {
      const { serverSettings, startServer } = await loadServer();
      const wanted = serverSettings(options.host ? { host: options.host } : {});
      refuseOpenServer(
        wanted.host,
        wanted.apiKey,
        options.insecureNoApiKey === true || process.env.BATON_INSECURE_NO_API_KEY === "true",
      );
      const running = await startServer({
        ...(options.host ? { host: options.host } : {}),
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
      });
      const { settings } = running;
      const lines = [
        `${bold("Baton server")} is running.`,
        `  Dashboard: ${running.url}/`,
        `  API:       ${running.apiUrl}  ${dim(`(docs: ${running.apiUrl}/docs)`)}`,
        `  Metrics:   ${running.apiUrl}/metrics  ${dim("(Prometheus)")}`,
        `  Database:  ${running.db.displayUrl} ${dim(`(${running.db.dialect})`)}`,
        "",
        `Point flows, workers and the CLI at it with: export BATON_API_URL=${running.apiUrl}`,
      ];
      if (settings.apiKey) lines.push("The API requires the key in BATON_API_KEY.");
      else if (!isLoopback(settings.host)) {
        lines.push(
          "Warning: listening beyond this machine without an API key; set BATON_API_KEY to require one.",
        );
      }
      process.stdout.write(`${lines.join("\n")}\n`);
      const stop = () => {
        running.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });

  const database = server.command("database").description("Manage the server's database");
  database
    .command("upgrade")
    .description("Apply pending migrations")
    .option("--database-url <url>", "postgres://… or a SQLite file path (BATON_DATABASE_URL)")
    .action(async (options: DatabaseOptions) => {
      const { openDatabase, migrateToLatest, serverSettings } = await loadServer();
      const db = openDatabase(
        serverSettings(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}).databaseUrl,
      );
      await migrateToLatest(db);
      await db.close();
      process.stdout.write(`Database ${db.displayUrl} is up to date.\n`);
    });
  database
    .command("reset")
    .description("Drop every table and recreate the schema (all runs are lost)")
    .option("--database-url <url>", "postgres://… or a SQLite file path (BATON_DATABASE_URL)")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (options: DatabaseOptions & { yes?: boolean }) => {
      const { openDatabase, resetDatabase, serverSettings } = await loadServer();
      const db = openDatabase(
        serverSettings(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}).databaseUrl,
      );
      if (!options.yes) {
        await db.close();
        throw new InvalidArgumentError(
          `this deletes everything in ${db.displayUrl}; run again with --yes to confirm`,
        );
      }
      await resetDatabase(db);
      await db.close();
      process.stdout.write(`Database ${db.displayUrl} was reset.\n`);
    });

  const secrets = server.command("secrets").description("Manage how the server stores secrets");
  secrets
    .command("rotate-key")
    .description(
      "Re-encrypt every secret with a new key, in one transaction; the current key (BATON_SECRETS_KEY or $BATON_HOME/secrets.key) must open them",
    )
    .option(
      "--new-key <key>",
      "32 bytes as base64 or hex (BATON_SECRETS_NEW_KEY); a new random key when unset",
    )
    .option("--database-url <url>", "postgres://… or a SQLite file path (BATON_DATABASE_URL)")
    .action(async (options: DatabaseOptions & { newKey?: string }) => {
      const lib = await loadServer();
      const settings = lib.serverSettings(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {});
      const given = options.newKey ?? (process.env.BATON_SECRETS_NEW_KEY || undefined);
      const newKeyText = given ?? lib.generateSecretsKey();
      const next = lib.parseSecretsKey(
        newKeyText,
        given === options.newKey ? "--new-key" : "BATON_SECRETS_NEW_KEY",
      );
      const current = lib.loadSecretsKey(settings);
      const db = lib.openDatabase(settings.databaseUrl);
      try {
        await lib.migrateToLatest(db);
        const count = await lib.rotateSecretsKey(db, current, next);
        const lines = [
          `Re-encrypted ${count} secret(s) of ${db.displayUrl} with key ${next.id} (was ${current.id}).`,
        ];
        if (settings.secretsKey === undefined) {
          const file = lib.secretsKeyFile(settings.home);
          lib.replaceKeyFile(file, newKeyText);
          lines.push(`Wrote the new key to ${file}. Restart the server to use it.`);
        } else {
          if (given === undefined) lines.push(`The new key (keep it secret): ${newKeyText}`);
          lines.push(
            "Set BATON_SECRETS_KEY to the new key on every server of this database and restart them: until then they cannot read the secrets.",
          );
        }
        process.stdout.write(`${lines.join("\n")}\n`);
      } finally {
        await db.close();
      }
    });
  return server;
}
