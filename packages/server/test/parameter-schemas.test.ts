import { describe, expect, it } from "vitest";
import { MAX_COMPILED_SCHEMAS, compileSchema, schemaIssues } from "../src/store/parameters.js";

const names = { whole: "(parameters)", notAField: "is not a parameter" };
const schemaOf = (i: number) => ({ type: "object", properties: { [`p${i}`]: { type: "integer" } } });

describe("compiled parameter schemas", () => {
  it("are kept up to a bound, then compiled again", () => {
    const first = compileSchema(schemaOf(0), "schema 0");
    expect(compileSchema(schemaOf(0), "schema 0")).toBe(first);
    for (let i = 1; i <= MAX_COMPILED_SCHEMAS; i++) compileSchema(schemaOf(i), `schema ${i}`);
    const again = compileSchema(schemaOf(0), "schema 0");
    expect(again).not.toBe(first);
    expect(schemaIssues(again, { p0: "x" }, names)).toEqual([{ path: "p0", message: "must be integer" }]);
    // A validator handed out before still works.
    expect(schemaIssues(first, { p0: 1 }, names)).toEqual([]);
  });

  it("still compile after a schema that names itself as the JSON Schema meta-schema is dropped", () => {
    compileSchema(
      { $id: "https://json-schema.org/draft/2020-12/schema", type: "object" },
      "a schema with the meta-schema's $id",
    );
    for (let i = 1; i <= MAX_COMPILED_SCHEMAS + 1; i++) compileSchema(schemaOf(1000 + i), `schema ${i}`);
    const validate = compileSchema({ type: "object", properties: { n: { type: "string" } } }, "a new schema");
    expect(schemaIssues(validate, { n: 1 }, names)).toEqual([{ path: "n", message: "must be string" }]);
  });

  it("count schemas that did not compile towards the bound, as ajv keeps them too", () => {
    const kept = compileSchema(schemaOf(2000), "a schema");
    for (let i = 0; i < MAX_COMPILED_SCHEMAS; i++) {
      expect(() => compileSchema({ $ref: `#/nowhere${i}` }, "a bad schema")).toThrow(
        /^a bad schema is not a valid JSON Schema: .*nowhere/,
      );
    }
    expect(compileSchema(schemaOf(2000), "a schema")).not.toBe(kept);
  });
});
