import type { SwaggerTransform, SwaggerTransformObject } from "@fastify/swagger";
import { jsonSchemaTransform } from "fastify-type-provider-zod";
import { $ZodRegistry, $ZodType, globalRegistry, toJSONSchema } from "zod/v4/core";

/**
 * fastify-type-provider-zod leaves out the definitions zod shares between the parts of a recursive schema
 * (the `z.json()` values), so the OpenAPI document referred to `#/components/schemas/schemaN` components
 * that did not exist (turkerdev/fastify-type-provider-zod#210). These transforms make them, named as it names
 * them: a name always stands for the same definition, or building the document fails.
 */
export function sharedDefinitionsTransforms(): {
  transform: SwaggerTransform;
  transformObject: SwaggerTransformObject;
} {
  const components: Record<string, unknown> = {};
  const collect = (schema: unknown, io: "input" | "output") => {
    if (!(schema instanceof $ZodType)) return;
    const registry = new $ZodRegistry<{ id?: string }>();
    registry.add(schema, { id: "schema" });
    const { __shared: shared } = toJSONSchema(registry, {
      target: "openapi-3.0",
      metadata: globalRegistry,
      io,
      unrepresentable: "any",
      cycles: "ref",
      reused: "inline",
      uri: () => "",
    }).schemas;
    const suffix = io === "input" ? "Input" : "";
    const definitions = JSON.stringify(shared?.definitions ?? shared?.$defs ?? {}).replace(
      /"#\/(?:definitions|\$defs)\/([^"]+)"/g,
      (_, id: string) => `"#/components/schemas/${id}${suffix}"`,
    );
    for (const [id, definition] of Object.entries(JSON.parse(definitions) as Record<string, unknown>)) {
      const name = `${id}${suffix}`;
      if (name in components && JSON.stringify(components[name]) !== JSON.stringify(definition)) {
        throw new Error(`two different recursive schemas are both named '${name}' in the OpenAPI document`);
      }
      components[name] = definition;
    }
  };
  return {
    transform: (input) => {
      // Routes without a schema (the dashboard's) come with none.
      const { params, querystring, body, headers, response } = input.schema ?? {};
      for (const part of [params, querystring, body, headers]) collect(part, "input");
      for (const part of Object.values(response ?? {})) collect(part, "output");
      return jsonSchemaTransform(input);
    },
    transformObject: (document) => {
      if (!("openapiObject" in document)) return document.swaggerObject;
      const { openapiObject } = document;
      return {
        ...openapiObject,
        components: {
          ...openapiObject.components,
          schemas: { ...openapiObject.components?.schemas, ...components },
        },
      } as ReturnType<SwaggerTransformObject>;
    },
  };
}
