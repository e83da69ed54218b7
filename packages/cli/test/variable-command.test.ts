import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Variable } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

describe.each(DIALECTS)("baton variable on %s", (dialect) => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    baton = batonAt(server.apiUrl);
  });
  afterAll(() => server.stop());

  it("sets values parsed as JSON when they parse, else as strings, and lists and reads them", async () => {
    expect(
      await baton("variable", "set", "region", "eu-west-1", "--tag", "infra", "--tag", "eu"),
    ).toMatchObject({
      code: 0,
      stdout: `Set variable 'region' to "eu-west-1".\n`,
    });
    expect((await baton("variable", "set", "batch", "25")).stdout).toBe("Set variable 'batch' to 25.\n");
    expect((await baton("variable", "set", "quoted", '"25"')).stdout).toBe(
      `Set variable 'quoted' to "25".\n`,
    );
    expect((await baton("variable", "set", "config", '{"retries": 2, "hosts": ["a", "b"]}')).code).toBe(0);

    const [listed, listedJson] = await Promise.all([
      baton("variable", "ls"),
      baton("variable", "ls", "--json"),
    ]);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+VALUE\s+TAGS\s+UPDATED$/);
    // Cells cut at the header's columns: an empty TAGS cell stays a cell.
    const starts = ["VALUE", "TAGS", "UPDATED"].map((header) => lines[0]!.indexOf(header));
    const cells = (line: string) =>
      [0, ...starts].slice(0, 3).map((start, i) => line.slice(start, starts[i]).trim());
    expect(lines.slice(1).map(cells)).toEqual([
      ["batch", "25", ""],
      ["config", '{"retries":2,"hosts":["a","b"]}', ""],
      ["quoted", '"25"', ""],
      ["region", '"eu-west-1"', "infra, eu"],
    ]);
    expect(json<Variable[]>(listedJson).map(({ name, value, tags }) => ({ name, value, tags }))).toEqual([
      { name: "batch", value: 25, tags: [] },
      { name: "config", value: { retries: 2, hosts: ["a", "b"] }, tags: [] },
      { name: "quoted", value: "25", tags: [] },
      { name: "region", value: "eu-west-1", tags: ["infra", "eu"] },
    ]);

    // A string prints as it is, for scripts; anything else as JSON.
    expect((await baton("variable", "get", "region")).stdout).toBe("eu-west-1\n");
    expect(JSON.parse((await baton("variable", "get", "config")).stdout)).toEqual({
      retries: 2,
      hosts: ["a", "b"],
    });
    expect(json<Variable>(await baton("variable", "get", "region", "--json"))).toMatchObject({
      name: "region",
      value: "eu-west-1",
      tags: ["infra", "eu"],
    });
  });

  it("replaces a value only with --overwrite, and says so in one line", async () => {
    await baton("variable", "set", "mode", "fast");
    expect(oneLineError(await baton("variable", "set", "mode", "slow"))).toBe(
      "error: variable 'mode' already exists: pass --overwrite to replace its value",
    );
    expect((await baton("variable", "get", "mode")).stdout).toBe("fast\n");
    expect((await baton("variable", "set", "mode", "slow", "--overwrite")).stdout).toBe(
      `Set variable 'mode' to "slow".\n`,
    );
    expect((await server.client.api.readVariable({ params: { name: "mode" } })).value).toBe("slow");
  });

  it("deletes a variable, and names one that does not exist", async () => {
    await baton("variable", "set", "doomed", "true");
    expect((await baton("variable", "delete", "doomed")).stdout).toBe("Deleted variable 'doomed'.\n");
    expect(oneLineError(await baton("variable", "delete", "doomed"))).toBe(
      "error: variable 'doomed' does not exist",
    );
    expect(oneLineError(await baton("variable", "get", "doomed"))).toBe(
      "error: variable 'doomed' does not exist",
    );
  });

  it("escapes control characters of values in the listing", async () => {
    await server.client.api.createVariable({ body: { name: "zz-escape", value: "\u009b31mred\u202e" } });
    const listed = await baton("variable", "ls");
    const row = listed.stdout.split("\n").find((line) => line.startsWith("zz-escape"));
    expect(row).toContain('"\\x9b31mred\\u202e"');
    expect(listed.stdout).not.toMatch(/[\u009b\u202e]/);
  });
});
