import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, defaultBaseJobTemplate, type JsonObject } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";

/** The BatonError a call was refused with. */
async function refusal(call: Promise<unknown>): Promise<BatonError> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof BatonError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

/** A docker template whose default image and memory are the pool owner's. */
function customDockerTemplate(): JsonObject {
  const template = defaultBaseJobTemplate("docker") as {
    variables: { properties: Record<string, JsonObject>; required?: string[] };
  };
  template.variables.properties.image!.default = "registry.example/flows:1";
  template.variables.properties.memory = { type: "string", enum: ["512m", "1g"], default: "512m" };
  return template;
}

describe.each(DIALECTS)("work pools' job variables on %s", (dialect: TestDialect) => {
  let server: TestServer;
  const api = () => server.client.api;
  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
    await api().createWorkPool({ body: { name: "containers", type: "docker" } });
    await api().createWorkPool({
      body: { name: "tuned", type: "docker", baseJobTemplate: customDockerTemplate() },
    });
  });
  afterAll(() => server.stop());

  it("fills a new pool's base job template with its type's default", async () => {
    const docker = await api().readWorkPool({ params: { name: "containers" } });
    expect(docker.baseJobTemplate).toEqual(defaultBaseJobTemplate("docker"));
    const properties = (docker.baseJobTemplate.variables as { properties: Record<string, JsonObject> })
      .properties;
    expect(properties.pullPolicy).toMatchObject({
      enum: ["always", "if-not-present", "never"],
      default: "if-not-present",
    });
    const local = await api().createWorkPool({ body: { name: "local" } });
    expect(local.baseJobTemplate).toEqual(defaultBaseJobTemplate("process"));
    const other = await api().createWorkPool({ body: { name: "k8s", type: "kubernetes" } });
    expect(other.baseJobTemplate).toEqual({ variables: { type: "object", properties: {} } });
  });

  it("refuses a deployment's job variables that its pool's schema does not take, with 400 naming each", async () => {
    const answer = await fetch(`${server.apiUrl}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        flowName: "f",
        name: "wrong",
        workPoolName: "containers",
        jobVariables: { image: "node:22", memory: "lots", pullPolicy: "sometimes", imgae: "node:22" },
      }),
    });
    expect(answer.status).toBe(400);
    const problem = (await answer.json()) as { detail: string };
    expect(problem.detail).toContain(
      "deployment 'f/wrong' has job variables that work pool 'containers' (type docker) does not take",
    );
    expect(problem.detail).toContain("imgae is not a job variable of a docker pool");
    expect(problem.detail).toContain("pullPolicy must be equal to one of the allowed values");
    expect(problem.detail).toContain("memory");
    await expect(
      api().readDeploymentByName({ params: { flowName: "f", deploymentName: "wrong" } }),
    ).rejects.toThrow(/does not exist|not found/i);
  });

  it("takes a deployment without the image its pool's workers require, which a run or the pool may give", async () => {
    const deployment = await api().createDeployment({
      body: {
        flowName: "f",
        name: "sized",
        workPoolName: "containers",
        jobVariables: { memory: "1g", cpus: 2 },
      },
    });
    expect(deployment.jobVariables).toEqual({ memory: "1g", cpus: 2 });
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { jobVariables: { image: "node:22" } },
    });
    expect(run.jobVariables).toEqual({ memory: "1g", cpus: 2, image: "node:22" });
  });

  it("refuses a run's job variables that do not fit, naming them", async () => {
    const deployment = await api().createDeployment({
      body: { flowName: "f", name: "plain", workPoolName: "local" },
    });
    const error = await refusal(
      api().createDeploymentRun({
        params: { id: deployment.id },
        body: { jobVariables: { env: { PORT: 8080 }, streamOutput: "yes" } },
      }),
    );
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain(
      "the new run of deployment 'f/plain' has job variables that work pool 'local'",
    );
    expect(error.message).toContain("env.PORT must be string");
    expect(error.message).toContain("streamOutput must be boolean");
  });

  it("checks a deployment moved to another pool against that pool's schema", async () => {
    const deployment = await api().createDeployment({
      body: { flowName: "f", name: "mover", workPoolName: "local", jobVariables: { streamOutput: false } },
    });
    const error = await refusal(
      api().updateDeployment({ params: { id: deployment.id }, body: { workPoolName: "containers" } }),
    );
    expect(error.message).toContain("streamOutput is not a job variable of a docker pool");
  });

  it("keeps a customised template, checks against it, and gives its defaults to the pool's runs", async () => {
    const error = await refusal(
      api().createDeployment({
        body: { flowName: "f", name: "big", workPoolName: "tuned", jobVariables: { memory: "64g" } },
      }),
    );
    expect(error.message).toContain("memory must be equal to one of the allowed values");
    const deployment = await api().createDeployment({
      body: { flowName: "f", name: "small", workPoolName: "tuned", jobVariables: { memory: "1g" } },
    });
    await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const { runs } = await api().claimFlowRuns({ body: { workerName: "w", workPoolName: "tuned" } });
    expect(runs[0]!.jobVariables).toEqual({
      image: "registry.example/flows:1",
      memory: "1g",
      pullPolicy: "if-not-present",
      autoRemove: true,
      stopGracePeriodSeconds: 10,
    });
  });

  it("refuses a base job template of the wrong shape or with defaults that do not fit, saying which", async () => {
    const create = (name: string, baseJobTemplate: JsonObject) =>
      refusal(api().createWorkPool({ body: { name, type: "docker", baseJobTemplate } }));
    expect((await create("shapeless", { job_configuration: {} })).message).toContain(
      "the base job template holds 'job_configuration', which Baton does not read",
    );
    expect((await create("scalar", { variables: { type: "string" } })).message).toContain(
      `'variables' has type "string" where "object" is expected`,
    );
    expect(
      (await create("broken", { variables: { properties: { image: { type: "text" } } } })).message,
    ).toContain("the base job template's 'variables' is not a valid JSON Schema");
    const badDefault = await create("bad-default", {
      variables: { properties: { pullPolicy: { type: "string", default: "sometimes" } } },
    });
    expect(badDefault.code).toBe("invalid_argument");
    expect(badDefault.message).toContain(
      "the defaults of the base job template do not fit its variables or a docker pool: pullPolicy must be equal to one of the allowed values",
    );
    const update = await refusal(
      api().updateWorkPool({
        params: { name: "containers" },
        body: { baseJobTemplate: { variables: { properties: { cpus: { default: -1 } } } } },
      }),
    );
    expect(update.message).toContain("cpus must be > 0");
    await expect(api().readWorkPool({ params: { name: "shapeless" } })).rejects.toThrow(
      /not found|does not exist/i,
    );
  });

  it("saves a pool's edited defaults through the pool's update", async () => {
    const template = defaultBaseJobTemplate("process") as {
      variables: { properties: Record<string, JsonObject> };
    };
    template.variables.properties.env!.default = { LOG_LEVEL: "debug" };
    const pool = await api().updateWorkPool({
      params: { name: "local" },
      body: { baseJobTemplate: template },
    });
    expect((pool.baseJobTemplate.variables as typeof template.variables).properties.env!.default).toEqual({
      LOG_LEVEL: "debug",
    });
  });
});
