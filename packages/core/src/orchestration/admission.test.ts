import { describe, expect, it } from "vitest";
import { admit, type AdmissionLimits, type RunPlace } from "./admission.js";

/** A run of pool `p`, queue `q`, deployment `d` (`-` for none): "p/q/d". */
const place = (spec: string): RunPlace & { spec: string } => {
  const [pool, queue, deployment] = spec.split("/").map((part) => (part === "-" ? null : part));
  return { spec, workPoolName: pool ?? null, workQueueId: queue ?? null, deploymentId: deployment ?? null };
};
const runs = (...specs: string[]) => specs.map(place);

const pool = (limit: number | null, ...queues: [string, number | null][]): AdmissionLimits => ({
  pool: { name: "p", limit },
  queues: queues.map(([id, queueLimit]) => ({ id, limit: queueLimit })),
});

describe("admit", () => {
  const cases: {
    name: string;
    candidates: string[];
    limits: AdmissionLimits;
    holding?: string[];
    max?: number;
    admitted: string[];
    /** Default: none. */
    cancelled?: string[];
  }[] = [
    {
      name: "takes every candidate when nothing is limited, in the order given",
      candidates: ["p/a/x", "p/b/y", "p/a/-"],
      limits: pool(null, ["a", null], ["b", null]),
      admitted: ["p/a/x", "p/b/y", "p/a/-"],
    },
    {
      name: "stops at the claim's own maximum",
      candidates: ["p/a/x", "p/a/y", "p/a/z"],
      limits: pool(null, ["a", null]),
      max: 2,
      admitted: ["p/a/x", "p/a/y"],
    },
    {
      name: "fills a pool limit counting the runs that hold it",
      candidates: ["p/a/x", "p/b/y", "p/a/z"],
      limits: pool(3, ["a", null], ["b", null]),
      holding: ["p/a/w"],
      admitted: ["p/a/x", "p/b/y"],
    },
    {
      name: "a full pool admits nothing",
      candidates: ["p/a/x"],
      limits: pool(1, ["a", null]),
      holding: ["p/b/y"],
      admitted: [],
    },
    {
      name: "skips a full queue and goes on with the next one",
      candidates: ["p/a/x", "p/a/y", "p/b/z"],
      limits: pool(null, ["a", 1], ["b", 5]),
      holding: ["p/a/w"],
      admitted: ["p/b/z"],
    },
    {
      name: "a queue limit of 0 admits nothing from that queue",
      candidates: ["p/a/x", "p/b/y"],
      limits: pool(null, ["a", 0], ["b", null]),
      admitted: ["p/b/y"],
    },
    {
      name: "counts a deployment's runs in flight wherever they are, and skips its candidates when full",
      candidates: ["p/a/d", "p/a/e", "p/a/d"],
      limits: { ...pool(null, ["a", null]), deployments: [{ id: "d", limit: 1 }] },
      holding: ["other/q/d"],
      admitted: ["p/a/e"],
    },
    {
      name: "admits a deployment's candidates up to its limit in one claim",
      candidates: ["p/a/d", "p/a/d", "p/a/d"],
      limits: { ...pool(null, ["a", null]), deployments: [{ id: "d", limit: 2 }] },
      admitted: ["p/a/d", "p/a/d"],
    },
    {
      name: "a run must fit every limit it counts against: pool, queue and deployment",
      candidates: ["p/a/d", "p/b/e"],
      limits: { ...pool(2, ["a", 5], ["b", 5]), deployments: [{ id: "d", limit: 1 }] },
      holding: ["p/b/d"],
      admitted: ["p/b/e"],
    },
    {
      name: "a serve process (no pool) is limited by its deployments only",
      candidates: ["-/-/d", "-/-/d", "-/-/e"],
      limits: { deployments: [{ id: "d", limit: 1 }] },
      admitted: ["-/-/d", "-/-/e"],
    },
    {
      name: "cancels the candidates of a full deployment that cancels new runs, and admits the others",
      candidates: ["p/a/d", "p/a/e", "p/a/d", "p/a/f"],
      limits: {
        ...pool(null, ["a", null]),
        deployments: [
          { id: "d", limit: 1, cancelNew: true },
          { id: "f", limit: 1 },
        ],
      },
      holding: ["p/a/d", "p/a/f"],
      admitted: ["p/a/e"],
      cancelled: ["p/a/d", "p/a/d"],
    },
    {
      name: "a deployment that cancels new runs admits up to its limit, then cancels",
      candidates: ["-/-/d", "-/-/d", "-/-/d"],
      limits: { deployments: [{ id: "d", limit: 2, cancelNew: true }] },
      admitted: ["-/-/d", "-/-/d"],
      cancelled: ["-/-/d"],
    },
    {
      name: "a full pool keeps such a deployment's run waiting while the deployment has room",
      candidates: ["p/a/d"],
      limits: { ...pool(1, ["a", null]), deployments: [{ id: "d", limit: 1, cancelNew: true }] },
      holding: ["p/a/x"],
      admitted: [],
    },
    {
      name: "runs held by another pool do not count against this pool",
      candidates: ["p/a/x"],
      limits: pool(1, ["a", 1]),
      holding: ["other/a2/y"],
      admitted: ["p/a/x"],
    },
  ];

  for (const { name, candidates, limits, holding = [], max = 100, admitted, cancelled = [] } of cases) {
    it(name, () => {
      const chosen = admit(runs(...candidates), limits, runs(...holding), max);
      expect(chosen.admitted.map((run) => run.spec)).toEqual(admitted);
      expect(chosen.cancelled.map((run) => run.spec)).toEqual(cancelled);
    });
  }

  it("returns the candidates themselves, so the caller claims the very rows it read", () => {
    const candidates = runs("p/a/x");
    expect(admit(candidates, pool(null, ["a", null]), [], 1).admitted[0]).toBe(candidates[0]);
  });
});
