// Prometheus scraping Baton servers, for the metrics test. The scrape job and the alerting rules are
// those docs/operations.md gives, read from there: what is tested is what the documentation says.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, type TestProcess } from "./processes.js";

const OPERATIONS = fileURLToPath(new URL("../docs/operations.md", import.meta.url));

/** Debian's prometheus (`apt-get install prometheus`, in /usr/bin) or one on the PATH; undefined when absent. */
export const PROMETHEUS: string | undefined = [...(process.env.PATH ?? "").split(":"), "/usr/bin"]
  .filter(Boolean)
  .map((dir) => join(dir, "prometheus"))
  .find((path) => existsSync(path));

/** The YAML blocks of docs/operations.md, as written: the scrape job first, the rules after. */
function documentedYaml(): { scrape: string; rules: string } {
  const blocks = [...readFileSync(OPERATIONS, "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const scrape = blocks.find((block) => block.startsWith("scrape_configs:"));
  const rules = blocks.find((block) => block.startsWith("groups:"));
  if (!scrape || !rules)
    throw new Error("docs/operations.md needs a scrape_configs block and a groups block");
  return { scrape, rules };
}

/**
 * The documented scrape job for this machine: its targets replaced by `targets` (host:port each), its
 * token file by `tokenFile` and its interval by `interval`, everything else as written.
 */
export function scrapeConfig(
  targets: string[],
  tokenFile: string,
  interval: string,
  rulesFile: string,
): string {
  const { scrape } = documentedYaml();
  const replaced = { targets: 0, credentials: 0, interval: 0 };
  const job = scrape
    .replace(/^(\s*- targets: ).*$/m, (_, head: string) => {
      replaced.targets++;
      return `${head}${JSON.stringify(targets)}`;
    })
    .replace(/^(\s*credentials_file: ).*$/m, (_, head: string) => {
      replaced.credentials++;
      return `${head}${tokenFile}`;
    })
    .replace(/^(\s*scrape_interval: ).*$/m, (_, head: string) => {
      replaced.interval++;
      return `${head}${interval}`;
    });
  if (Object.values(replaced).some((count) => count !== 1)) {
    throw new Error(
      "docs/operations.md's scrape job needs one targets, credentials_file and scrape_interval line",
    );
  }
  return `global:\n  evaluation_interval: ${interval}\nrule_files:\n  - ${rulesFile}\n${job}`;
}

export interface Prometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  process: TestProcess;
  /** The instant vector `expression` evaluates to now: each series' labels and value. */
  query(expression: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  /** The rules loaded from the documented groups, with Prometheus' verdict on each. */
  rules(): Promise<{ name: string; health: string; lastError?: string }[]>;
  stop(): Promise<void>;
}

interface ApiAnswer<T> {
  status: "success" | "error";
  data: T;
  error?: string;
}

async function ask<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const answer = (await response.json()) as ApiAnswer<T>;
  if (answer.status !== "success") throw new Error(`Prometheus answered ${response.status}: ${answer.error}`);
  return answer.data;
}

/**
 * Starts prometheus on 127.0.0.1 scraping `targets` every `interval` with `token`, its storage in a
 * temporary folder; resolves once it says it is ready.
 */
export async function startPrometheus(
  targets: string[],
  token: string,
  interval = "1s",
): Promise<Prometheus> {
  if (!PROMETHEUS) throw new Error("prometheus is not installed (Debian: apt-get install prometheus)");
  const dir = mkdtempSync(join(tmpdir(), "baton-prometheus-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const rulesFile = join(dir, "rules.yml");
  writeFileSync(rulesFile, documentedYaml().rules);
  const configFile = join(dir, "prometheus.yml");
  writeFileSync(configFile, scrapeConfig(targets, tokenFile, interval, rulesFile));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = startProcess(
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { command: PROMETHEUS },
  );
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await child.waitForLine(/Server is ready to receive web requests/);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    process: child,
    query: async (expression) => {
      const data = await ask<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expression)}`,
      );
      return data.result.map((series) => ({ labels: series.metric, value: Number(series.value[1]) }));
    },
    rules: async () => {
      const data = await ask<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
        `${url}/api/v1/rules`,
      );
      return data.groups.flatMap((group) =>
        group.rules.map(({ name, health, lastError }) => ({
          name,
          health,
          ...(lastError ? { lastError } : {}),
        })),
      );
    },
    stop,
  };
}
