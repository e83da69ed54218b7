import { describe, expect, it } from "vitest";
import {
  defaultBaseJobTemplate,
  jobVariableDefaults,
  parseJobVariables,
  stopGracePeriodOf,
  withJobVariableDefaults,
} from "./work-pool-types.js";

describe("work pool types' job variables", () => {
  it("lay out each type's variables as a JSON Schema with defaults in the base job template", () => {
    const docker = defaultBaseJobTemplate("docker").variables as {
      properties: Record<string, { default?: unknown }>;
      required: string[];
    };
    expect(Object.keys(docker.properties)).toEqual(
      expect.arrayContaining([
        "image",
        "env",
        "volumes",
        "networkMode",
        "memory",
        "cpus",
        "pullPolicy",
        "autoRemove",
      ]),
    );
    expect(docker.properties.pullPolicy!.default).toBe("if-not-present");
    expect(docker.properties.autoRemove!.default).toBe(true);
    expect(docker.required).toEqual(["image"]);
    const process = defaultBaseJobTemplate("process").variables as {
      properties: Record<string, { default?: unknown }>;
    };
    expect(Object.keys(process.properties)).toEqual(
      expect.arrayContaining(["command", "env", "workingDir", "streamOutput"]),
    );
    expect(process.properties.streamOutput!.default).toBe(true);
    expect(defaultBaseJobTemplate("kubernetes")).toEqual({ variables: { type: "object", properties: {} } });
  });

  it("read and replace a template's defaults, keeping its schema", () => {
    const template = defaultBaseJobTemplate("docker");
    expect(jobVariableDefaults(template)).toEqual({
      pullPolicy: "if-not-present",
      autoRemove: true,
      stopGracePeriodSeconds: 10,
    });
    const edited = withJobVariableDefaults(template, { image: "node:22", autoRemove: false, extra: 1 });
    expect(jobVariableDefaults(edited)).toEqual({ image: "node:22", autoRemove: false, extra: 1 });
    const properties = (edited.variables as { properties: Record<string, object> }).properties;
    expect(properties.image).toMatchObject({ type: "string", minLength: 1 });
    expect(properties.extra).toEqual({ default: 1 });
    expect((edited.variables as { required: string[] }).required).toEqual(["image"]);
  });

  it("read a run's variables with the defaults filled in", () => {
    expect(parseJobVariables("docker", { image: "node:22", memory: "512m" })).toEqual({
      image: "node:22",
      memory: "512m",
      pullPolicy: "if-not-present",
      autoRemove: true,
      stopGracePeriodSeconds: 10,
    });
    expect(parseJobVariables("process", {})).toEqual({ streamOutput: true, stopGracePeriodSeconds: 10 });
  });

  it("refuse wrong variables naming each one", () => {
    const wrong = () => parseJobVariables("docker", { memory: "lots", imgae: "node:22" });
    expect(wrong).toThrow(/^job variables of a docker pool: /);
    expect(wrong).toThrow(/imgae: not a job variable of a docker pool/);
    expect(wrong).toThrow(/image: must be the name of an image \(it has no default\)/);
    expect(wrong).toThrow(/memory: must be a number of bytes or a size like "512m"/);
    expect(() => parseJobVariables("process", { env: { A: 1 } })).toThrow(/env\.A: /);
  });

  it("give the stop grace period of any type, 10 s when unset or wrong", () => {
    expect(stopGracePeriodOf({ stopGracePeriodSeconds: 3 })).toBe(3);
    expect(stopGracePeriodOf({})).toBe(10);
    expect(stopGracePeriodOf({ stopGracePeriodSeconds: "soon" })).toBe(10);
  });
});
