// The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a real server
// with seeded runs and a real serve process: every page, filters, live updates, cancel, and a
// deployment run from the form generated from its parameter schema. Screenshots of each page go to
// test-results/screenshots/ for a person to look at.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { FlowRun, JsonObject, StateInput } from "@baton/core";
import { findDashboard } from "@baton/server";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";

const CHROMIUM = "/usr/bin/chromium";
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const screenshots = join(repo, "test-results", "screenshots");
const servedOrder = fileURLToPath(new URL("./fixtures/served-order.ts", import.meta.url));
/** How long a page may take to show what a step waits for. */
const UI_TIMEOUT = 10_000;

if (!existsSync(CHROMIUM)) {
  console.warn(
    `${CHROMIUM} is missing: the dashboard's browser tests are SKIPPED (apt-get install chromium).`,
  );
}

/** The newest modification time of the files under `paths`. */
function newest(paths: string[]): number {
  let latest = 0;
  for (const path of paths) {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      latest = Math.max(latest, newest(readdirSync(path).map((name) => join(path, name))));
    } else {
      latest = Math.max(latest, stat.mtimeMs);
    }
  }
  return latest;
}

/**
 * The server serves the dashboard that findDashboard() finds (packages/ui/dist). CI builds it while
 * installing; a developer's may be older than the sources, so it is built again when it is.
 */
function ensureFreshDashboard(): void {
  const dist = findDashboard();
  if (!dist) throw new Error("@baton/ui cannot be resolved from @baton/server");
  const ui = join(dist, "..");
  const sources = [
    join(ui, "src"),
    join(ui, "index.html"),
    join(ui, "vite.config.ts"),
    join(ui, "package.json"),
    join(repo, "packages/core/src"),
    join(repo, "packages/client/src"),
  ];
  const index = join(dist, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newest(sources)) return;
  const build = spawnSync("npm", ["run", "build", "-w", "@baton/ui"], { cwd: repo, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the dashboard failed:\n${build.stdout}\n${build.stderr}`);
}

describe.skipIf(!existsSync(CHROMIUM))("the dashboard in Chromium", () => {
  let server: TestServer;
  let served: TestProcess;
  let browser: Browser;
  let page: Page;
  /** Console errors and uncaught exceptions of the current test's page. */
  let consoleErrors: string[];
  /** Console errors a test provokes on purpose (a refused request is logged by the browser). */
  let expectedErrors: RegExp[];
  const seeded: Record<string, FlowRun> = {};
  let orderDeploymentId: string;
  let tupleDeploymentId: string;

  const api = () => server.client.api;

  const move = async (id: string, ...states: StateInput[]) => {
    for (const state of states) {
      const result = await api().setFlowRunState({ params: { id }, body: { state } });
      expect(result.status).toBe("ACCEPT");
    }
  };

  const seedRun = async (name: string, ...states: StateInput[]) => {
    const run = await api().createFlowRun({ body: { flowName: "etl", name } });
    await move(run.id, ...states);
    seeded[name] = run;
    return run;
  };

  const open = async (path: string) => {
    await page.goto(`${server.url}${path}`);
    await page.getByRole("heading", { level: 1 }).first().waitFor();
  };

  const shoot = (name: string) =>
    page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true, animations: "disabled" });

  const heading = () => page.getByRole("heading", { level: 1 });

  /** Resolves once the run's page title shows the state, live. */
  const stateShown = (name: string) =>
    heading()
      .locator(".badge", { hasText: new RegExp(`^${name}$`) })
      .waitFor();

  beforeAll(async () => {
    ensureFreshDashboard();
    mkdirSync(screenshots, { recursive: true });
    // Services look at the store every second, so that the late run below is marked Late quickly.
    server = await startTestServer("sqlite", { serviceLoopSeconds: 1 });
    served = startProcess([servedOrder], { env: { BATON_API_URL: server.apiUrl } });
    const [browserReady, ready] = await Promise.all([
      chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      }),
      served.waitForLine(/^ready /),
    ]);
    browser = browserReady;
    orderDeploymentId = ready.split(" ")[1]!;

    await seedRun(
      "seed-completed",
      { type: "PENDING" },
      { type: "RUNNING" },
      {
        type: "COMPLETED",
        data: { kind: "inline", serializer: "json", value: { rows: 3 } },
      },
    );
    await seedRun(
      "seed-failed",
      { type: "PENDING" },
      { type: "RUNNING" },
      { type: "FAILED", message: "boom" },
    );
    await seedRun("seed-crashed", { type: "PENDING" }, { type: "RUNNING" }, { type: "CRASHED" });
    const lateAt = new Date(Date.parse(seeded["seed-completed"]!.created) - 3_600_000).toISOString();
    const late = await api().createFlowRun({
      body: { flowName: "etl", name: "seed-late", state: { type: "SCHEDULED", scheduledTime: lateAt } },
    });
    seeded["seed-late"] = late;

    await api().createWorkPool({ body: { name: "local", type: "process" } });
    await api().heartbeatWorker({ params: { pool: "local" }, body: { name: "worker-1" } });
    await api().createConcurrencyLimit({ body: { tag: "database", limit: 2 } });
    // A tuple (zod writes `prefixItems`, which the form turns into draft-07's form), and a keyword of
    // draft 2020-12 that the form's draft-07 check does not know: only the server refuses what breaks it.
    const { $schema: _draft, ...point } = z.toJSONSchema(
      z.tuple([z.number(), z.number()]),
    ) as unknown as JsonObject;
    const schema: JsonObject = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: {
        point,
        window: {
          type: "object",
          properties: { from: { type: "string" }, to: { type: "string" } },
          dependentRequired: { from: ["to"] },
        },
      },
      required: ["point"],
    };
    const tuple = await api().createDeployment({
      body: { flowName: "plot", name: "tuple", parameterSchema: schema, workPoolName: "local" },
    });
    tupleDeploymentId = tuple.id;
  });

  afterAll(async () => {
    await browser?.close();
    if (served) expect(await served.stop()).toBe(0);
    await server?.stop();
  });

  beforeEach(async () => {
    consoleErrors = [];
    expectedErrors = [];
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));
  });

  afterEach(async (context) => {
    // What the page showed when a step failed, to see why.
    if (context.task.result?.state === "fail")
      await shoot(`failed-${context.task.name.replace(/\W+/g, "-")}`);
    await page.close();
    expect(consoleErrors.filter((text) => !expectedErrors.some((pattern) => pattern.test(text)))).toEqual([]);
  });

  it("opens every page from its URL and from the navigation", async () => {
    const pages = [
      { path: "/", title: "Overview", shot: "overview" },
      { path: "/runs", title: "Flow runs", shot: "runs" },
      { path: "/deployments", title: "Deployments", shot: "deployments" },
      { path: "/work-pools", title: "Work pools", shot: "work-pools" },
      { path: "/concurrency-limits", title: "Concurrency limits", shot: "concurrency-limits" },
    ];
    for (const { path, title, shot } of pages) {
      await open(path);
      expect(await heading().textContent()).toBe(title);
      await page.locator(".loading").waitFor({ state: "detached" });
      if (path === "/") await page.locator(".chart-canvas canvas").waitFor();
      await shoot(shot);
    }

    await open("/");
    const nav = page.getByRole("navigation", { name: "Main" });
    for (const { path, title } of [...pages.slice(1), pages[0]!]) {
      await nav.getByRole("link", { name: title === "Flow runs" ? "Runs" : title, exact: true }).click();
      await page.waitForURL(`${server.url}${path}`);
      await heading().getByText(title, { exact: true }).waitFor();
      expect(await nav.locator('[aria-current="page"]').getAttribute("href")).toBe(path);
    }
    // The work pool, its worker and the tag limit seeded above are on their pages.
    await nav.getByRole("link", { name: "Work pools" }).click();
    await page.getByRole("heading", { name: /local/ }).waitFor();
    await page.getByRole("cell", { name: "worker-1" }).waitFor();
    await nav.getByRole("link", { name: "Concurrency limits" }).click();
    await page.getByText("database", { exact: true }).waitFor();
  });

  it("shows runs by state, what needs attention, and the work pools' workers on the overview", async () => {
    await open("/");
    await page.locator(".chart-canvas canvas").waitFor();
    const attention = (label: string) =>
      page.locator(".attention", { hasText: label }).locator(".attention-count");
    expect(await attention("failed").textContent()).toBe("1");
    expect(await attention("crashed").textContent()).toBe("1");
    // The late-runs service marks the seeded run Late within a second or two; the page follows live.
    await expect.poll(() => attention("late now").textContent(), { timeout: UI_TIMEOUT }).toBe("1");
    const pools = page.locator("section", { has: page.getByRole("heading", { name: "Work pools" }) });
    await pools.getByRole("row", { name: /local.*Ready.*1 of 1/ }).waitFor();
    await shoot("overview");

    await page.locator(".attention", { hasText: "failed" }).click();
    await page.waitForURL(/\/runs\?state=FAILED&after=/);
    await page.getByRole("link", { name: "seed-failed" }).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);

    await open("/");
    await page.locator(".attention", { hasText: "late now" }).click();
    await page.waitForURL(/\/runs\?stateName=Late$/);
    await page.getByRole("link", { name: "seed-late" }).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);
  });

  it("filters the runs list by state", async () => {
    await open("/runs");
    await page.getByRole("link", { name: "seed-completed" }).waitFor();
    const names = () => page.locator("tbody tr td:first-child").allTextContents();
    expect(await names()).toEqual(expect.arrayContaining(["seed-completed", "seed-failed", "seed-crashed"]));

    await page.getByLabel("State").selectOption({ label: "Failed" });
    await page.waitForURL(/\/runs\?state=FAILED$/);
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["seed-failed"]);
    await shoot("runs-failed");

    await page.getByLabel("State").selectOption({ label: "Crashed" });
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["seed-crashed"]);

    // A filter in the URL is there on a reload too.
    await page.reload();
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["seed-crashed"]);
    await page.getByLabel("State").selectOption({ label: "All states" });
    await expect.poll(async () => (await names()).length, { timeout: UI_TIMEOUT }).toBeGreaterThanOrEqual(4);
  });

  it("follows a running run's state and logs live, and shows its result", async () => {
    const run = await api().createFlowRun({ body: { flowName: "etl", name: "live-run" } });
    await open(`/runs/${run.id}`);
    await stateShown("Scheduled");
    await page.locator(".live-live").waitFor();

    await move(run.id, { type: "PENDING" }, { type: "RUNNING" });
    await stateShown("Running");
    const log = (message: string, level = 20) =>
      api().createLogs({
        body: [{ flowRunId: run.id, level, message, name: "runner", timestamp: new Date().toISOString() }],
      });
    await log("loading rows");
    await page.getByRole("log").getByText("loading rows").waitFor();
    await log("a warning", 30);
    await page.getByRole("log").getByText("a warning").waitFor();
    await shoot("run-running");

    await move(run.id, {
      type: "COMPLETED",
      data: { kind: "inline", serializer: "json", value: { rows: 3, ok: true } },
    });
    await stateShown("Completed");
    const result = page.locator("section", { has: page.getByRole("heading", { name: "Result" }) });
    expect(JSON.parse((await result.locator("pre").textContent()) ?? "")).toEqual({ rows: 3, ok: true });
    expect(await page.getByRole("button", { name: "Cancel" }).isDisabled()).toBe(true);
    await shoot("run-completed");
  });

  it("cancels a running run from its page", async () => {
    const run = await api().createFlowRun({ body: { flowName: "etl", name: "to-cancel" } });
    await move(run.id, { type: "PENDING" }, { type: "RUNNING" });
    await open(`/runs/${run.id}`);
    await stateShown("Running");
    await page.getByRole("button", { name: "Cancel" }).click();
    // Nothing runs this flow, so it stays Cancelling: what a runner would see and act on.
    await stateShown("Cancelling");
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("CANCELLING");
    expect(await page.getByRole("button", { name: "Cancel" }).isDisabled()).toBe(true);
    await shoot("run-cancelling");
  });

  it("runs a deployment from the form made from its parameter schema, and shows the result", async () => {
    await open("/deployments");
    await page.getByRole("link", { name: "dashboard" }).click();
    await page.waitForURL(`${server.url}/deployments/${orderDeploymentId}`);
    await heading().getByText("dashboard").waitFor();
    await page.getByText("the process that serves it").waitFor();

    await page.getByRole("button", { name: "Run", exact: true }).click();
    const form = page.getByRole("region", { name: "New run" });
    // Prefilled with the deployment's defaults.
    expect(await form.locator("#root_items_0_sku").inputValue()).toBe("A-1");
    expect(await form.getByLabel("priority").inputValue()).toBe("2");

    // Nothing is sent while required fields are empty; each says what is missing.
    await form.getByRole("button", { name: "Start run" }).click();
    await form.locator("#root_customer_name__error").getByText("is required").waitFor();
    await form.locator("#root_customer_address_city__error").getByText("is required").waitFor();
    await shoot("deployment-form-invalid");
    expect((await api().listFlowRuns({ query: { deploymentId: orderDeploymentId } })).items).toEqual([]);

    await form.getByLabel(/^name/).fill("Ada");
    await form.getByLabel("street").fill("1 Main St");
    await form.getByLabel("city").fill("Seoul");
    await form.getByRole("button", { name: "Add item" }).click();
    await form.locator("#root_items_1_sku").fill("B-2");
    await form.locator("#root_items_1_quantity").fill("3");
    await form.getByLabel("priority").selectOption({ label: "low" });
    await shoot("deployment-form");
    await form.getByRole("button", { name: "Start run" }).click();

    await page.waitForURL(/\/runs\/[\w-]+$/);
    await stateShown("Completed");
    const result = page.locator("section", { has: page.getByRole("heading", { name: "Result" }) });
    expect(JSON.parse((await result.locator("pre").textContent()) ?? "")).toEqual({
      to: "Ada, Seoul",
      units: 5,
      priority: "low",
    });
    await shoot("deployment-run-result");

    // The run is among the deployment's recent runs, and came with the parameters from the form.
    await page.getByRole("link", { name: "dashboard" }).click();
    const recent = page.locator("section", { has: page.getByRole("heading", { name: "Recent runs" }) });
    await recent.locator("tbody tr", { hasText: "Completed" }).waitFor();
    await shoot("deployment");
    const [run] = (await api().listFlowRuns({ query: { deploymentId: orderDeploymentId } })).items;
    expect(run?.parameters).toEqual({
      customer: { name: "Ada", address: { street: "1 Main St", city: "Seoul" } },
      items: [
        { sku: "A-1", quantity: 2 },
        { sku: "B-2", quantity: 3 },
      ],
      priority: "low",
    });
  });

  it("checks custom JSON before sending it, and shows the server's refusal beside the form", async () => {
    await open(`/deployments/${tupleDeploymentId}`);
    await page.getByRole("button", { name: "Pause" }).click();
    await heading().getByText("Paused").waitFor();
    await page.getByRole("button", { name: "Resume" }).click();
    await heading().getByText("Active").waitFor();

    await page.getByRole("button", { name: "Run", exact: true }).click();
    const form = page.getByRole("region", { name: "New run" });
    // The tuple is a field per position.
    await form.locator("#root_point_0").fill("1");
    await form.locator("#root_point_1").fill("2");
    await form.getByRole("button", { name: "Custom JSON" }).click();
    const json = form.getByLabel("Parameters (JSON)");
    const problem = form.getByRole("alert");
    // What the form held comes along.
    expect(JSON.parse(await json.inputValue())).toEqual({ point: [1, 2] });

    await json.fill("{ not json");
    await form.getByRole("button", { name: "Start run" }).click();
    await problem.getByText("(JSON)").waitFor();

    await json.fill('{ "point": "here" }');
    await form.getByRole("button", { name: "Start run" }).click();
    await problem.getByText("These parameters do not fit the schema.").waitFor();
    await problem.getByText("must be array").waitFor();

    // Passes the form's check (see the tuple deployment above); the server refuses it, naming the field.
    expectedErrors.push(/status of 400/);
    await json.fill('{ "point": [1, 2], "window": { "from": "09:00" } }');
    await form.getByRole("button", { name: "Start run" }).click();
    await problem.getByText("The server refused these parameters.").waitFor();
    await problem.getByText("window", { exact: true }).waitFor();
    await problem.getByText(/must have property to when property from is present/).waitFor();
    await shoot("deployment-json-refused");
    expect((await api().listFlowRuns({ query: { deploymentId: tupleDeploymentId } })).items).toEqual([]);
    expect(page.url()).toBe(`${server.url}/deployments/${tupleDeploymentId}`);

    // A run started elsewhere shows up among the recent runs as it is created.
    const started = await api().createDeploymentRun({
      params: { id: tupleDeploymentId },
      body: { parameters: { point: [3, 4] } },
    });
    const recent = page.locator("section", { has: page.getByRole("heading", { name: "Recent runs" }) });
    await recent.getByRole("link", { name: started.name }).waitFor();
  });
});
