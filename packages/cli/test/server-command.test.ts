import { spawn, execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

// The built binary, exactly as `npx baton` runs it (the suite runs after `npm run build`).
const BATON = fileURLToPath(new URL("../bin/baton.js", import.meta.url));
const home = mkdtempSync(join(tmpdir(), "baton-cli-"));
const env = { ...process.env, BATON_HOME: home, BATON_API_KEY: "", BATON_DATABASE_URL: "" };

afterAll(() => rmSync(home, { recursive: true, force: true }));

/** The built `baton` with these arguments, in `env` plus `extra`. */
async function batonIn(
  extra: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BATON, ...args], {
      env: { ...env, ...extra },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const baton = (...args: string[]) => batonIn({}, ...args);

describe("baton server", () => {
  it("starts on the embedded SQLite store, prints its URLs, serves the API and dashboard, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [BATON, "server", "start", "--port", "0"], {
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout });
    let apiUrl = "";
    const printed: string[] = [];
    for await (const line of lines) {
      printed.push(line);
      const match = /API:\s+(\S+)/.exec(line);
      if (match) apiUrl = match[1]!;
      if (line.includes("BATON_API_URL")) break;
    }
    expect(printed.join("\n")).toContain(join(home, "baton.db"));
    expect(printed.join("\n")).toMatch(/Dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    const metricsUrl = /Metrics:\s+(\S+)/.exec(printed.join("\n"))?.[1];
    expect(metricsUrl).toBe(`${apiUrl}/metrics`);
    expect(await (await fetch(metricsUrl!)).text()).toContain("# TYPE baton_flow_runs gauge");
    const health = (await (await fetch(`${apiUrl}/health`)).json()) as { status: string; database: string };
    expect(health).toMatchObject({ status: "ok", database: "sqlite" });
    const page = await fetch(apiUrl.replace(/\/api$/, "/runs"));
    expect(page.headers.get("content-type")).toContain("text/html");
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number];
    expect(code).toBe(0);
  });

  it("refuses to listen beyond this machine without an API key unless told it is on purpose", async () => {
    const [open, openIpv6] = await Promise.all([
      baton("server", "start", "--host", "0.0.0.0", "--port", "0"),
      baton("server", "start", "--host", "::", "--port", "0"),
    ]);
    for (const [result, host] of [
      [open, "0.0.0.0"],
      [openIpv6, "::"],
    ] as const) {
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `error: refusing to listen on ${host} without an API key: anyone who can reach it could run and ` +
          "change anything. Set BATON_API_KEY (clients send it too), listen on 127.0.0.1, or pass " +
          "--insecure-no-api-key (BATON_INSECURE_NO_API_KEY=true) if something else keeps strangers out.",
      );
    }
    // With the flag it starts (and warns), as it does with a key.
    const child = spawn(
      process.execPath,
      [BATON, "server", "start", "--host", "0.0.0.0", "--port", "0", "--insecure-no-api-key"],
      { env, stdio: ["ignore", "pipe", "inherit"] },
    );
    let printed = "";
    for await (const line of createInterface({ input: child.stdout })) {
      printed += `${line}\n`;
      if (line.startsWith("Warning:")) break;
    }
    expect(printed).toContain("Warning: listening beyond this machine without an API key");
    child.kill("SIGTERM");
    await once(child, "exit");
  });

  it("upgrades and resets the database, asking for --yes before deleting anything", async () => {
    const upgrade = await baton("server", "database", "upgrade");
    expect(upgrade.stdout).toContain("is up to date");
    const refused = await baton("server", "database", "reset");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("--yes");
    const reset = await baton("server", "database", "reset", "--yes");
    expect(reset.stdout).toContain("was reset");
  });

  it("logs JSON lines with request ids, pretty ones with BATON_LOG_FORMAT=pretty, and refuses other formats", async () => {
    /** The first stdout line of a server (level info) after one request that `matches`. */
    const logLineOf = async (format: string, matches: (line: string) => boolean) => {
      const child = spawn(process.execPath, [BATON, "server", "start", "--port", "0"], {
        env: { ...env, BATON_LOG_LEVEL: "info", BATON_LOG_FORMAT: format },
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        for await (const line of createInterface({ input: child.stdout })) {
          const api = /API:\s+(\S+)/.exec(line);
          if (api) await fetch(`${api[1]}/health`);
          if (matches(line)) return line;
        }
        throw new Error("the server's output ended without the line");
      } finally {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    };
    const json = await logLineOf(
      "json",
      (line) => line.startsWith("{") && line.includes("request completed"),
    );
    const logged = JSON.parse(json) as { level: number; msg: string; reqId?: unknown };
    expect(logged).toMatchObject({ level: 30, msg: "request completed" });
    expect(typeof logged.reqId).toBe("string");
    const pretty = await logLineOf("pretty", (line) => line.includes("request completed"));
    expect(pretty).toMatch(/^\[[\d:.]+\] INFO \(\d+\): request completed/);

    const refused = await batonIn({ BATON_LOG_FORMAT: "xml" }, "server", "start", "--port", "0");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("BATON_LOG_FORMAT must be one of json, pretty, not 'xml'");
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  });

  it("rejects a bad port in one line without a stack trace", async () => {
    const result = await baton("server", "start", "--port", "http");
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("'http' is not a port number");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("prints its version", async () => {
    expect((await baton("version")).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
