// HAProxy in front of Baton replicas, for the replicas test and benchmark. The configuration is the one
// docs/production.md gives, read from there: what is tested is what the documentation says.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, type TestProcess } from "./processes.js";

const PRODUCTION = fileURLToPath(new URL("../docs/production.md", import.meta.url));

/** Debian's haproxy (`apt-get install haproxy`, in /usr/sbin) or one on the PATH; undefined when absent. */
export const HAPROXY: string | undefined = [...(process.env.PATH ?? "").split(":"), "/usr/sbin"]
  .filter(Boolean)
  .map((dir) => join(dir, "haproxy"))
  .find((path) => existsSync(path));

/** The first `haproxy` block of docs/production.md, as written. */
export function documentedConfig(): string {
  const block = /```haproxy\n([\s\S]*?)```/.exec(readFileSync(PRODUCTION, "utf8"));
  if (!block) throw new Error("docs/production.md has no haproxy block");
  return block[1]!;
}

/**
 * The documented configuration for this machine: its `bind` line on 127.0.0.1:`port`, its `server`
 * lines replaced by one per replica (`host:port`) written like the first, everything else as written.
 * A stats socket is added so that the test can see what HAProxy thinks of each replica.
 */
export function haproxyConfig(port: number, replicas: string[], statsSocket: string): string {
  const lines = documentedConfig().split("\n");
  const binds = lines.filter((line) => /^\s*bind\s/.test(line));
  const server = lines.map((line) => /^(\s*)server\s+\S+\s+\S+(.*)$/.exec(line)).find(Boolean);
  if (binds.length !== 1 || !server || !lines.includes("global")) {
    throw new Error(
      "docs/production.md's haproxy block needs a global section, one bind line and a server line",
    );
  }
  const [, indent, options] = server;
  let first = true;
  return lines
    .flatMap((line) => {
      if (line === "global") return [line, `${indent}stats socket ${statsSocket} level operator`];
      if (binds.includes(line)) return [`${indent}bind 127.0.0.1:${port}`];
      if (!/^\s*server\s/.test(line)) return [line];
      if (!first) return [];
      first = false;
      return replicas.map((address, i) => `${indent}server baton-${i + 1} ${address}${options}`);
    })
    .join("\n");
}

/** One replica as HAProxy sees it. */
export interface ProxiedServer {
  /** host:port, as given to startHaproxy. */
  address: string;
  /** UP, DOWN, or on its way ("UP 1/2", "DOWN 1/2"). */
  status: string;
  /** Connections open to it now (long polls and event streams among them). */
  sessions: number;
}

export interface Haproxy {
  /** http://127.0.0.1:PORT/api */
  apiUrl: string;
  process: TestProcess;
  /** The replicas in the order given. */
  servers(): Promise<ProxiedServer[]>;
  stop(): Promise<void>;
}

/** Sends one command to HAProxy's stats socket and answers what it says. */
function ask(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = "";
    connect(socket)
      .on("data", (chunk) => (answer += String(chunk)))
      .on("end", () => resolve(answer))
      .on("error", reject)
      .end(`${command}\n`);
  });
}

/** Starts haproxy in front of the replicas (`host:port` each); resolves once every one is UP. */
export async function startHaproxy(replicas: string[]): Promise<Haproxy> {
  if (!HAPROXY) throw new Error("haproxy is not installed (Debian: apt-get install haproxy)");
  const dir = mkdtempSync(join(tmpdir(), "baton-haproxy-"));
  const socket = join(dir, "stats.sock");
  const port = await freePort();
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, haproxyConfig(port, replicas, socket));
  // -db: in the foreground, logging to stderr, so that it stops with the test.
  const child = startProcess(["-db", "-f", file], { command: HAPROXY });
  const servers = async (): Promise<ProxiedServer[]> => {
    const rows = (await ask(socket, "show stat")).split("\n").filter(Boolean);
    const header = rows[0]!.replace(/^# /, "").split(",");
    const column = (name: string) => header.indexOf(name);
    const found = new Map(
      rows.slice(1).map((row) => {
        const cells = row.split(",");
        return [cells[column("svname")], cells] as const;
      }),
    );
    return replicas.map((address, i) => {
      const cells = found.get(`baton-${i + 1}`);
      if (!cells) throw new Error(`haproxy does not list the replica at ${address}`);
      return { address, status: cells[column("status")]!, sessions: Number(cells[column("scur")]) };
    });
  };
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let deadline = Date.now() + 15_000; ;) {
      const up = await servers().then(
        (all) => all.every((server) => server.status === "UP"),
        () => false, // not listening on its socket yet
      );
      if (up) break;
      if (child.child.exitCode !== null) throw new Error(`haproxy exited:\n${child.lines.join("\n")}`);
      if (Date.now() > deadline)
        throw new Error(`haproxy's replicas are not all UP after 15 s:\n${child.lines.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { apiUrl: `http://127.0.0.1:${port}/api`, process: child, servers, stop };
}
