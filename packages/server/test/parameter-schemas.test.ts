import { describe, expect, it } from "vitest";
import { MAX_COMPILED_SCHEMAS, compileSchema, schemaIssues } from "../src/store/parameters.js";

const names = { whole: "(parameters)", notAField: "is not a parameter" };

describe("compiled parameter schemas", () => {
  it("keeps at most a bounded number, the ones used last, and compiles an evicted one again", () => {
    const schemaOf = (i: number) => ({ type: "object", properties: { [`p${i}`]: { type: "integer" } } });
    const first = compileSchema(schemaOf(0), "schema 0");
    const kept = compileSchema(schemaOf(1), "schema 1");
    for (let i = 2; i <= MAX_COMPILED_SCHEMAS; i++) {
      compileSchema(schemaOf(i), `schema ${i}`);
      // Used again as the others come: always among the last used.
      if (i % 100 === 0) expect(compileSchema(schemaOf(1), "schema 1")).toBe(kept);
    }
    expect(compileSchema(schemaOf(1), "schema 1")).toBe(kept);
    const again = compileSchema(schemaOf(0), "schema 0");
    expect(again).not.toBe(first);
    expect(schemaIssues(again, { p0: "x" }, names)).toEqual([{ path: "p0", message: "must be integer" }]);
  });
});
