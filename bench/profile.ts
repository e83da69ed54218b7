/**
 * CPU profiles: `cpuProfile(fn)` records one in this process (node:inspector), `summarizeProfile`
 * reduces it to where the time went. Also a command for any .cpuprofile (e.g. from `node --cpu-prof`):
 *
 *   node --import tsx bench/profile.ts FILE.cpuprofile [--top=20]
 */
import { readFileSync } from "node:fs";
import { Session, type Profiler } from "node:inspector/promises";
import { fileURLToPath } from "node:url";
import type { ReportTable } from "./benchmark.js";
import { fmt, table } from "./stats.js";

export async function cpuProfile<T>(
  fn: () => Promise<T>,
  intervalMicros = 200,
): Promise<{ value: T; profile: Profiler.Profile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: intervalMicros });
    await session.post("Profiler.start");
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      await session.post("Profiler.stop");
      throw error;
    }
    const { profile } = await session.post("Profiler.stop");
    return { value, profile };
  } finally {
    session.disconnect();
  }
}

const SERVER_AREAS =
  /^(@baton\/server|fastify|@fastify\/.*|fastify-.*|find-my-way|avvio|kysely|better-sqlite3|pg|pg-.*|pino|pino-.*|light-my-request|node:_http_server|node:_http_incoming|node:_http_outgoing)$/;
const CLIENT_AREAS = /^(@baton\/sdk|@baton\/client|undici \(fetch\))$/;

/** Which package or part of Node a frame belongs to. */
function areaOf(frame: Profiler.ProfileNode["callFrame"]): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  if (url.includes("deps/undici")) return "undici (fetch)";
  const modules = url.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const [first, second] = url.slice(modules + "/node_modules/".length).split("/");
    return first?.startsWith("@") ? `${first}/${second}` : (first ?? url);
  }
  const pkg = /\/packages\/([^/]+)\/(src|dist)\//.exec(url);
  if (pkg) return `@baton/${pkg[1]}`;
  if (url.includes("/bench/")) return "bench";
  if (url.startsWith("node:")) return url.replace(/^node:(internal\/)?/, "node:").split("/")[0]!;
  return "other";
}

const isPackage = (area: string) => !area.startsWith("node:") && !area.startsWith("(");

export interface ProfileSummary {
  totalMs: number;
  sampleCount: number;
  /** Self time of the hottest functions. */
  functions: { name: string; location: string; area: string; selfMs: number; share: number }[];
  /** Self time by package, Node internals charged to the nearest package up the stack. */
  areas: { area: string; selfMs: number; share: number }[];
  /** Samples with the server on the stack, with the client (SDK, API client, fetch) and not the server, and neither. */
  sides: { side: string; ms: number; share: number }[];
}

export function summarizeProfile(profile: Profiler.Profile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // Shares are of the sampled time: the first delta (profiler start to first sample) belongs to no sample.
  const totalMs = deltas.slice(1).reduce((sum, delta) => sum + delta, 0) / 1000;

  const selfByNode = new Map<number, number>();
  const areaMs = new Map<string, number>();
  const sideMs = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);
  const stackInfo = new Map<number, { area: string; side: string }>();

  samples.forEach((id, i) => {
    // A sample lasts until the next one.
    const ms = (i + 1 < deltas.length ? deltas[i + 1]! : 0) / 1000;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + ms);
    let info = stackInfo.get(id);
    if (!info) {
      const leaf = areaOf(byId.get(id)!.callFrame);
      let area: string | undefined;
      let server = false;
      let client = false;
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const a = areaOf(byId.get(at)!.callFrame);
        if (!area && isPackage(a) && a !== "(native)") area = a;
        if (SERVER_AREAS.test(a)) server = true;
        if (CLIENT_AREAS.test(a)) client = true;
      }
      const special = leaf.startsWith("(") && leaf !== "(native)";
      info = {
        area: special ? leaf : (area ?? leaf),
        side: special ? leaf : server ? "server" : client ? "client" : "other",
      };
      stackInfo.set(id, info);
    }
    add(areaMs, info.area, ms);
    add(sideMs, info.side, ms);
  });

  const functions = new Map<string, { name: string; location: string; area: string; selfMs: number }>();
  for (const [id, ms] of selfByNode) {
    const frame = byId.get(id)!.callFrame;
    const location = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : "";
    const key = `${frame.functionName}@${location}`;
    const entry = functions.get(key) ?? {
      name: frame.functionName || "(anonymous)",
      location,
      area: areaOf(frame),
      selfMs: 0,
    };
    entry.selfMs += ms;
    functions.set(key, entry);
  }
  const share = (ms: number) => ms / (totalMs || 1);
  return {
    totalMs,
    sampleCount: samples.length,
    functions: [...functions.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((f) => ({ ...f, share: share(f.selfMs) })),
    areas: [...areaMs]
      .sort((a, b) => b[1] - a[1])
      .map(([area, ms]) => ({ area, selfMs: ms, share: share(ms) })),
    sides: [...sideMs].sort((a, b) => b[1] - a[1]).map(([side, ms]) => ({ side, ms, share: share(ms) })),
  };
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("/node_modules/");
  if (modules >= 0) return path.slice(modules + "/node_modules/".length);
  const pkg = path.indexOf("/packages/");
  if (pkg >= 0) return path.slice(pkg + 1);
  return path.replace(/^node:internal\/deps\//, "node:");
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

export function profileTables(summary: ProfileSummary, what: string): ReportTable[] {
  return [
    {
      title: `${what}: time by side (a sample with the server on its stack is the server's)`,
      header: ["side", "ms", "share"],
      rows: summary.sides.map((s) => [s.side, fmt(s.ms), pct(s.share)]),
    },
    {
      title: `${what}: self time by package (Node internals charged to the nearest package calling them)`,
      header: ["package", "self ms", "share"],
      rows: summary.areas.slice(0, 15).map((a) => [a.area, fmt(a.selfMs), pct(a.share)]),
    },
    {
      title: `${what}: top functions by self time`,
      header: ["function", "where", "self ms", "share"],
      rows: summary.functions.map((f) => [f.name, f.location.slice(-60), fmt(f.selfMs), pct(f.share)]),
    },
  ];
}

// As a command: summarize .cpuprofile files.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
  const top = Number(
    /^--top=(\d+)$/.exec(process.argv.find((arg) => arg.startsWith("--top=")) ?? "")?.[1] ?? 20,
  );
  if (files.length === 0) {
    console.error("usage: node --import tsx bench/profile.ts FILE.cpuprofile [--top=20]");
    process.exit(2);
  }
  for (const file of files) {
    const summary = summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as Profiler.Profile, top);
    console.log(`${file}: ${fmt(summary.totalMs)} ms, ${summary.sampleCount} samples\n`);
    for (const t of profileTables(summary, file)) console.log(`${t.title}\n${table(t.header, t.rows)}\n`);
  }
}
