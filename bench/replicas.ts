/**
 * Figure 8, replicas (issue 18): the same work through HAProxy in front of one server and in front of
 * three servers on one PostgreSQL database, in one run, with the HAProxy configuration of
 * docs/production.md (test/haproxy.ts):
 *
 * - dispatch latency as in figure 2: create a run of a deployment served by an idle serve process →
 *   the flow's first line, one run at a time (the serve process and the client both go through HAProxy,
 *   so a run is created through one server and claimed through another);
 * - throughput as in figure 4: runs through a pool whose queue is limited to 8, drained by 4 claim
 *   loops, each request of theirs balanced over the servers.
 *
 * Every server runs the built packages in a process of its own; HAProxy, the serve process and this
 * process are processes of their own too, all on this machine (and its cores).
 * Quick pass: 30 dispatch runs, 1,000 queued runs; full: 200 and 10,000.
 * Flags: --runs=N --queued=N --replicas=1,3
 */
import { BatonClient } from "@baton/client";
import { HAPROXY, startHaproxy } from "../test/haproxy.js";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { measure, startRunner } from "./dispatch.js";
import { drainQueue } from "./queue-throughput.js";
import { POSTGRES_URL, startBenchReplicas } from "./server.js";
import { fmt, summarize, type Summary } from "./stats.js";

const QUEUE = { workers: 4, limit: 8 };

interface Figures {
  replicas: number;
  /** Create → first line, ms. */
  dispatch: Summary;
  /** Create → claimed (PENDING, as the server stamped it), ms: the part the servers share. */
  claim: Summary;
  runsPerSecond: number;
}

async function measureReplicas(
  count: number,
  runs: number,
  queued: number,
  progress: (message: string) => void,
): Promise<Figures> {
  const replicas = await startBenchReplicas(count);
  try {
    const proxy = await startHaproxy(replicas.apiUrls.map((url) => new URL(url).host));
    try {
      const client = new BatonClient({ url: proxy.apiUrl });
      const served = await startRunner("serve", client, proxy.apiUrl);
      let dispatch: Summary;
      let claim: Summary;
      try {
        const { id } = await client.api.readDeploymentByName({
          params: { flowName: "bench-dispatch", deploymentName: "served" },
        });
        progress(`${count} replica(s): ${runs} runs one at a time`);
        for (let i = 0; i < 3; i++) await measure(client, id);
        const samples = [];
        for (let i = 0; i < runs; i++) samples.push(await measure(client, id));
        dispatch = summarize(samples.map((sample) => sample.total));
        claim = summarize(samples.map((sample) => sample.claim));
      } finally {
        await served.stop();
      }
      const seconds = await drainQueue(proxy.apiUrl, { runs: queued, ...QUEUE }, (message) =>
        progress(`${count} replica(s): ${message}`),
      );
      return { replicas: count, dispatch, claim, runsPerSecond: queued / seconds };
    } finally {
      await proxy.stop();
    }
  } finally {
    await replicas.stop();
  }
}

export const replicas: Benchmark = {
  name: "replicas",
  title: "Replicas behind HAProxy on one PostgreSQL database: dispatch p50 and runs/s, 1 server and 3",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const runs = Number(flag("runs") ?? (options.full ? 200 : 30));
    const queued = Number(flag("queued") ?? (options.full ? 10_000 : 1_000));
    const counts = (flag("replicas") ?? "1,3").split(",").map(Number);
    const missing = !POSTGRES_URL
      ? "set BATON_TEST_DATABASE_URL (or BATON_BENCH_DATABASE_URL) to a PostgreSQL server"
      : !HAPROXY
        ? "haproxy is not installed (Debian: apt-get install haproxy)"
        : undefined;
    if (missing) return { parameters: {}, notes: [`skipped: ${missing}`], tables: [], data: null };

    const data: Figures[] = [];
    for (const count of counts)
      data.push(await measureReplicas(count, runs, queued, (message) => options.progress(message)));
    const one = data.find((figures) => figures.replicas === 1);
    const rows = data.map((figures) => [
      String(figures.replicas),
      fmt(figures.dispatch.median),
      fmt(figures.dispatch.p99),
      fmt(figures.claim.median),
      fmt(figures.runsPerSecond),
      one ? fmt(figures.dispatch.median / one.dispatch.median) : "-",
      one ? fmt(figures.runsPerSecond / one.runsPerSecond) : "-",
    ]);
    return {
      parameters: { runs, queued, replicas: counts, ...QUEUE },
      notes: [
        "Everything goes through HAProxy (docs/production.md's configuration, roundrobin), for 1 server as for 3.",
        `Dispatch: create a deployment run → the flow's first line in an idle serve process, ${runs} runs one after another (figure 2); claimed: create → PENDING.`,
        `Runs/s: ${queued} runs queued first, then drained by ${QUEUE.workers} claim loops through a queue limited to ${QUEUE.limit} (figure 4).`,
        "Ratios are over 1 server: dispatch below 2 is within issue 18's bound; runs/s above 1 is more.",
      ],
      tables: [
        {
          title: "Through HAProxy",
          header: [
            "servers",
            "dispatch p50 ms",
            "dispatch p99 ms",
            "claimed p50 ms",
            "runs/s",
            "dispatch ×",
            "runs/s ×",
          ],
          rows,
        },
      ],
      data,
    };
  },
};
