import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Artifact, FlowRun } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

const HEADERS = ["ID", "KEY", "TYPE", "FLOW RUN", "DATA", "CREATED"];

describe.each(DIALECTS)("baton artifact on %s", (dialect) => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  let first: FlowRun;
  let second: FlowRun;
  const api = () => server.client.api;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    baton = batonAt(server.apiUrl);
    first = await api().createFlowRun({ body: { flowName: "nightly", name: "first-night" } });
    second = await api().createFlowRun({ body: { flowName: "nightly", name: "second-night" } });
    for (const [run, rows] of [
      [first, 3],
      [second, 4],
    ] as const) {
      await api().createArtifact({
        body: {
          type: "markdown",
          key: "nightly-report",
          data: `# Nightly\n\n${rows} rows`,
          flowRunId: run.id,
        },
      });
    }
    await api().createArtifact({
      body: {
        type: "table",
        key: "nightly-totals",
        data: [
          { region: "eu", rows: 3 },
          { region: "us", rows: 4, late: true },
        ],
        flowRunId: second.id,
      },
    });
    await api().createArtifact({ body: { type: "progress", data: 40, flowRunId: second.id } });
  });
  afterAll(() => server.stop());

  /** The rows of a listing, each cut at the header's columns, with the cells of the columns named. */
  function rowsOf(result: Result, columns: string[]): string[][] {
    expect(result.code).toBe(0);
    const [header, ...lines] = result.stdout.trimEnd().split("\n");
    const starts = HEADERS.map((column) => header!.indexOf(column));
    return lines.map((line) =>
      columns.map((column) => {
        const at = HEADERS.indexOf(column);
        return line.slice(starts[at], starts[at + 1]).trim();
      }),
    );
  }

  it("lists the newest version of each key by default, and every artifact or a run's on request", async () => {
    const columns = ["KEY", "TYPE", "FLOW RUN", "DATA"];
    expect(rowsOf(await baton("artifact", "ls"), columns)).toEqual([
      ["nightly-totals", "table", "second-night", "2 row(s)"],
      ["nightly-report", "markdown", "second-night", "# Nightly 4 rows"],
    ]);
    expect(
      rowsOf(await baton("artifact", "ls", "--all-versions", "--key", "nightly-report"), columns),
    ).toEqual([
      ["nightly-report", "markdown", "second-night", "# Nightly 4 rows"],
      ["nightly-report", "markdown", "first-night", "# Nightly 3 rows"],
    ]);
    expect(rowsOf(await baton("artifact", "ls", "--flow-run", second.id), columns)).toEqual([
      ["-", "progress", "second-night", "[########------------] 40%"],
      ["nightly-totals", "table", "second-night", "2 row(s)"],
      ["nightly-report", "markdown", "second-night", "# Nightly 4 rows"],
    ]);
    const all = json<Artifact[]>(await baton("artifact", "ls", "--all-versions", "--json"));
    expect(all.map((artifact) => artifact.type)).toEqual(["progress", "table", "markdown", "markdown"]);
    expect(
      rowsOf(await baton("artifact", "ls", "--all-versions", "--type", "progress", "-l", "1"), ["DATA"]),
    ).toEqual([["[########------------] 40%"]]);
  });

  it("inspects the newest version of a key, or an artifact by id, with its data in full", async () => {
    const report = await baton("artifact", "inspect", "nightly-report");
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^Key:\s+nightly-report$/m);
    expect(report.stdout).toMatch(new RegExp(`^Flow run:\\s+second-night \\(${second.id}\\)$`, "m"));
    expect(report.stdout).toContain("\n# Nightly\n\n4 rows\n");
    expect(report.stdout).toContain("baton artifact ls --all-versions --key nightly-report");

    const totals = await baton("artifact", "inspect", "nightly-totals");
    expect(totals.stdout).toMatch(/^REGION\s+ROWS\s+LATE$/m);
    expect(totals.stdout).toMatch(/^eu\s+3$/m);
    expect(totals.stdout).toMatch(/^us\s+4\s+true$/m);

    const [progress] = (await api().listArtifacts({ query: { type: "progress" } })).items;
    const byId = json<Artifact>(await baton("artifact", "inspect", progress!.id, "--json"));
    expect(byId).toMatchObject({ id: progress!.id, type: "progress", data: 40, key: null });
  });

  it("deletes an artifact by id or every version of a key, and names what does not exist", async () => {
    const doomed = await api().createArtifact({ body: { type: "markdown", key: "doomed", data: "a" } });
    await api().createArtifact({ body: { type: "markdown", key: "doomed", data: "b" } });
    const lone = await api().createArtifact({
      body: { type: "link", data: { link: "https://example.com" } },
    });
    expect((await baton("artifact", "delete", lone.id)).stdout).toBe(`Deleted artifact ${lone.id}.\n`);
    expect((await baton("artifact", "delete", "doomed")).stdout).toBe(
      "Deleted 2 version(s) of artifact key 'doomed'.\n",
    );
    expect(oneLineError(await baton("artifact", "inspect", doomed.id))).toBe(
      `error: artifact '${doomed.id}' does not exist`,
    );
    expect(oneLineError(await baton("artifact", "inspect", "doomed"))).toBe(
      "error: artifact key 'doomed' does not exist",
    );
    expect(oneLineError(await baton("artifact", "delete", "Not A Key"))).toContain(
      "'Not A Key' is not an artifact key (lowercase letters, digits and dashes)",
    );
  });
});
