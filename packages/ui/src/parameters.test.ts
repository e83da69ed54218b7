import type { JsonObject } from "@baton/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { checkParameters, formSchema, issuesToErrorSchema } from "./parameters.js";

const zodSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: "input" }) as JsonObject;

describe("formSchema", () => {
  it("turns zod's draft 2020-12 tuples into draft-07 ones, leaving values alone", () => {
    const schema = formSchema(
      zodSchema(
        z.object({
          point: z.tuple([z.number(), z.string()]),
          pair: z.tuple([z.number()], z.boolean()).default([1, true]),
        }),
      ),
    );
    expect(schema.$schema).toBeUndefined();
    expect(schema.properties?.point).toMatchObject({
      type: "array",
      items: [{ type: "number" }, { type: "string" }],
      additionalItems: false,
    });
    expect(schema.properties?.point).not.toHaveProperty("prefixItems");
    expect(schema.properties?.pair).toMatchObject({
      items: [{ type: "number" }],
      additionalItems: { type: "boolean" },
      default: [1, true],
    });
  });

  it("takes any object when the deployment has no schema", () => {
    expect(formSchema({})).toEqual({ type: "object", additionalProperties: true });
  });
});

describe("checkParameters", () => {
  const schema = formSchema(
    zodSchema(
      z.object({
        customer: z.object({ name: z.string().min(1) }),
        items: z.array(z.string()).min(1),
        point: z.tuple([z.number(), z.number()]).optional(),
      }),
    ),
  );

  it("checks the JSON over the deployment's defaults, as the server does", () => {
    expect(checkParameters('{"customer": {"name": "Ada"}}', schema, { items: ["a"] })).toEqual({
      ok: true,
      value: { customer: { name: "Ada" } },
    });
    expect(
      checkParameters('{"customer": {"name": "Ada"}, "point": [1, 2]}', schema, { items: ["a"] }).ok,
    ).toBe(true);
  });

  it("names each field that does not fit, and JSON that is not an object", () => {
    const checked = checkParameters('{"customer": {}, "items": [], "point": [1, "x"]}', schema, {});
    expect(checked.ok).toBe(false);
    const paths = checked.ok ? [] : checked.issues.map((issue) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(["customer.name", "items", "point.1"]));
    expect(checkParameters("[1]", schema, {})).toEqual({
      ok: false,
      issues: [{ path: "(JSON)", message: "must be an object of parameters" }],
    });
    expect(checkParameters("{", schema, {}).ok).toBe(false);
  });
});

describe("issuesToErrorSchema", () => {
  it("puts the server's issues on the fields they name, and the rest on the form", () => {
    expect(
      issuesToErrorSchema([
        { path: "customer.address.city", message: "is required" },
        { path: "(parameters)", message: "must NOT have unevaluated properties" },
      ]),
    ).toEqual({
      __errors: ["must NOT have unevaluated properties"],
      customer: { address: { city: { __errors: ["is required"] } } },
    });
  });
});
