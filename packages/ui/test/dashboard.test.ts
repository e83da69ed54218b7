// The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a real server
// with seeded runs and a real serve process: every page, filters, live updates, cancel, a deployment
// run from the form generated from its parameter schema, and automations made from the form generated
// from their model, with secrets and events. Screenshots of each page go to test-results/screenshots/
// for a person to look at.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { jobVariableDefaults, type FlowRun, type JsonObject, type StateInput } from "@baton/core";
import { findDashboard } from "@baton/server";
import { serverAFlow } from "../../../examples/gps/src/flows.js";
import { toLocalInput } from "../src/run-filters.js";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";

const CHROMIUM = "/usr/bin/chromium";
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const screenshots = join(repo, "test-results", "screenshots");
const servedOrder = fileURLToPath(new URL("./fixtures/served-order.ts", import.meta.url));
const servedGps = fileURLToPath(new URL("./fixtures/served-gps.ts", import.meta.url));
const servedApproval = fileURLToPath(new URL("./fixtures/served-approval.ts", import.meta.url));
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
  let servedGpsProcess: TestProcess;
  let browser: Browser;
  let page: Page;
  /** Console errors and uncaught exceptions of the current test's page. */
  let consoleErrors: string[];
  /** Console errors a test provokes on purpose (a refused request is logged by the browser). */
  let expectedErrors: RegExp[];
  const seeded: Record<string, FlowRun> = {};
  let orderDeploymentId: string;
  let tupleDeploymentId: string;
  let serverBDeploymentId: string;

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

  /** A full-page screenshot, from the top (the sticky top bar would otherwise land where the page was scrolled to). */
  const shoot = async (name: string) => {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true, animations: "disabled" });
  };

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
    // examples/gps's simulated waits, a hundred times shorter.
    servedGpsProcess = startProcess([servedGps], {
      env: { BATON_API_URL: server.apiUrl, GPS_SLEEP_SCALE: "0.01" },
    });
    const [browserReady, ready, gpsReady] = await Promise.all([
      chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      }),
      served.waitForLine(/^ready /),
      servedGpsProcess.waitForLine(/^ready /),
    ]);
    browser = browserReady;
    orderDeploymentId = ready.split(" ")[1]!;
    serverBDeploymentId = gpsReady.split(" ")[1]!;

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
      body: {
        flowName: "plot",
        name: "tuple",
        parameterSchema: schema,
        workPoolName: "local",
        pullSteps: [
          { step: "git_clone", repository: "https://example.com/acme/plot.git", branch: "main" },
          { step: "run_shell_script", script: "npm ci" },
        ],
      },
    });
    tupleDeploymentId = tuple.id;
  });

  afterAll(async () => {
    await browser?.close();
    if (served) expect(await served.stop()).toBe(0);
    if (servedGpsProcess) expect(await servedGpsProcess.stop()).toBe(0);
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

  it("follows the system's dark theme", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    try {
      await open("/runs");
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      // The dark palette's background, #0f1216.
      expect(background).toBe("rgb(15, 18, 22)");
      await shoot("runs-dark");
    } finally {
      await page.emulateMedia({ colorScheme: "light" });
    }
  });

  it("opens every page from its URL and from the navigation", async () => {
    const pages = [
      { path: "/", title: "Overview", shot: "overview" },
      { path: "/runs", title: "Flow runs", shot: "runs" },
      { path: "/waiting-for-input", title: "Waiting for input", shot: "waiting-for-input-empty" },
      { path: "/deployments", title: "Deployments", shot: "deployments" },
      { path: "/work-pools", title: "Work pools", shot: "work-pools" },
      { path: "/concurrency-limits", title: "Concurrency limits", shot: "concurrency-limits" },
      { path: "/variables", title: "Variables", shot: "variables" },
      { path: "/artifacts", title: "Artifacts", shot: "artifacts" },
      { path: "/automations", title: "Automations", shot: "automations" },
      { path: "/events", title: "Events", shot: "events" },
      { path: "/webhooks", title: "Webhooks", shot: "webhooks" },
    ];
    for (const { path, title, shot } of pages) {
      await open(path);
      expect(await heading().textContent()).toBe(title);
      // Some pages load two lists at once (automations and secrets), each saying so until it arrives.
      await expect.poll(() => page.locator(".loading").count()).toBe(0);
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

  it("filters the runs list by flow, tag, work pool and time, kept in the URL and live", async () => {
    const daily = await api().createFlowRun({
      body: { flowName: "reports", name: "report-daily", tags: ["finance", "nightly"] },
    });
    await api().createFlowRun({ body: { flowName: "reports", name: "report-adhoc", tags: ["finance"] } });
    await api().createFlowRun({ body: { flowName: "etl", name: "etl-nightly", tags: ["nightly"] } });
    await api().createWorkPool({ body: { name: "reporting", type: "process" } });
    const monthly = await api().createDeployment({
      body: { flowName: "reports", name: "monthly", workPoolName: "reporting" },
    });
    const pooled = await api().createDeploymentRun({
      params: { id: monthly.id },
      body: { name: "report-monthly" },
    });
    const names = () => page.locator("tbody tr td:first-child").allTextContents();
    const filter = (label: string) => page.getByLabel(label, { exact: true });

    await open("/runs");
    await page.getByRole("link", { name: "report-daily" }).waitFor();
    await filter("Flow").selectOption({ label: "reports" });
    await page.waitForURL(`${server.url}/runs?flow=${daily.flowId}`);
    await expect
      .poll(names, { timeout: UI_TIMEOUT })
      .toEqual(["report-monthly", "report-adhoc", "report-daily"]);

    // The tag applies once typing pauses; with the flow, one run is left.
    await filter("Tag").fill("nightly");
    await page.waitForURL(`${server.url}/runs?flow=${daily.flowId}&tag=nightly`);
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["report-daily"]);
    await shoot("runs-filtered");
    // Both are in the URL, so a reload (or a link) keeps them.
    await page.reload();
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["report-daily"]);
    expect(await filter("Tag").inputValue()).toBe("nightly");
    expect(await filter("Flow").locator("option:checked").textContent()).toBe("reports");
    await filter("Flow").selectOption({ label: "All flows" });
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["etl-nightly", "report-daily"]);

    // A tag in the table filters by itself; a new run with it shows up live.
    await page
      .getByRole("row", { name: /report-daily/ })
      .getByRole("button", { name: "finance" })
      .click();
    await page.waitForURL(`${server.url}/runs?tag=finance`);
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["report-adhoc", "report-daily"]);
    await api().createFlowRun({ body: { flowName: "reports", name: "report-live", tags: ["finance"] } });
    await expect
      .poll(names, { timeout: UI_TIMEOUT })
      .toEqual(["report-live", "report-adhoc", "report-daily"]);

    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.waitForURL(`${server.url}/runs`);
    // The tag's field follows the URL a render later (it holds what is typed until typing pauses).
    await expect.poll(() => filter("Tag").inputValue(), { timeout: UI_TIMEOUT }).toBe("");
    await filter("Work pool").selectOption("reporting");
    await page.waitForURL(`${server.url}/runs?pool=reporting`);
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["report-monthly"]);

    // Created in the last hour: the run is there; created before it: none.
    await filter("Created").selectOption({ label: "Last hour" });
    await page.waitForURL(`${server.url}/runs?pool=reporting&range=1h`);
    await expect.poll(names, { timeout: UI_TIMEOUT }).toEqual(["report-monthly"]);
    await filter("Created").selectOption({ label: "Between…" });
    await filter("To").fill(toLocalInput(new Date(Date.parse(pooled.created) - 60_000).toISOString()));
    await page.waitForURL(/\/runs\?pool=reporting&before=/);
    await page.getByText("No flow runs match these filters.").waitFor();
  });

  it("follows a running run's state and logs live, and shows its result", async () => {
    const run = await api().createFlowRun({ body: { flowName: "etl", name: "live-run" } });
    await open(`/runs/${run.id}`);
    await stateShown("Scheduled");
    await page.locator(".live-live").waitFor();

    await move(run.id, { type: "PENDING" }, { type: "RUNNING" });
    await stateShown("Running");
    const states = page.getByRole("list", { name: "States" }).locator(".badge");
    await expect.poll(() => states.allTextContents()).toEqual(["Scheduled", "Pending", "Running"]);

    // A task run and a subflow show up on the timeline as they are created, and change as they go.
    const timeline = page.getByRole("table", { name: "Task runs and subflows over time" });
    const bar = (name: string, state: string) =>
      timeline.getByRole("row", { name: new RegExp(name) }).locator(`.gantt-bar-${state}`);
    const task = await api().createTaskRun({
      body: { flowRunId: run.id, name: "extract", taskKey: "extract" },
    });
    await timeline
      .getByRole("row", { name: /extract/ })
      .getByText("not started")
      .waitFor();
    await api().setTaskRunState({ params: { id: task.id }, body: { state: { type: "RUNNING" } } });
    await bar("extract", "running").waitFor();
    const subflow = await api().createFlowRun({
      body: { flowName: "load", name: "live-subflow", parentFlowRunId: run.id, state: { type: "PENDING" } },
    });
    await move(subflow.id, { type: "RUNNING" });
    await bar("live-subflow", "running").waitFor();
    expect(await timeline.getByRole("link", { name: "live-subflow" }).getAttribute("href")).toBe(
      `/runs/${subflow.id}`,
    );

    const log = (message: string, level = 20) =>
      api().createLogs({
        body: [{ flowRunId: run.id, level, message, name: "runner", timestamp: new Date().toISOString() }],
      });
    await log("loading rows");
    await page.getByRole("log").getByText("loading rows").waitFor();
    await log("a warning", 30);
    await page.getByRole("log").getByText("a warning").waitFor();
    await shoot("run-running");

    // The level filter asks the server; the search looks through the lines loaded.
    const lines = () => page.getByRole("log").locator(".log-message").allTextContents();
    await page.getByLabel("Search").fill("ROWS");
    await expect.poll(lines).toEqual(["loading rows"]);
    await page.getByLabel("Search").fill("");
    await page.getByLabel("Level").selectOption({ label: "Warning and above" });
    await expect.poll(lines).toEqual(["a warning"]);
    await page.getByLabel("Level").selectOption({ label: "All levels" });
    await expect.poll(lines).toEqual(["loading rows", "a warning"]);

    await api().setTaskRunState({ params: { id: task.id }, body: { state: { type: "COMPLETED" } } });
    await move(subflow.id, { type: "FAILED", message: "no rows" });
    await bar("extract", "completed").waitFor();
    await bar("live-subflow", "failed").waitFor();
    await move(run.id, {
      type: "COMPLETED",
      data: { kind: "inline", serializer: "json", value: { rows: 3, ok: true } },
    });
    await stateShown("Completed");
    const result = page.locator("section", { has: page.getByRole("heading", { name: "Result" }) });
    expect(JSON.parse((await result.locator("pre").textContent()) ?? "")).toEqual({ rows: 3, ok: true });
    expect(await page.getByRole("button", { name: "Cancel" }).isDisabled()).toBe(true);
    // Nothing would run it again: it belongs to no deployment.
    expect(await page.getByRole("button", { name: "Retry" }).isDisabled()).toBe(true);
    await shoot("run-completed");
  });

  it("shows a change made while the run's live stream was still opening", async () => {
    // The page reads the run and opens its event stream at once. A change that lands after the read
    // and before the stream is open is in neither, unless the page reads again once the stream opens.
    const run = await api().createFlowRun({ body: { flowName: "etl", name: "stream-opening" } });
    let streamAsked!: () => void;
    const asked = new Promise<void>((resolve) => (streamAsked = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stream = /\/api\/events\/stream/;
    await page.route(stream, async (route) => {
      streamAsked();
      await released;
      await route.continue();
    });
    try {
      await open(`/runs/${run.id}`);
      await stateShown("Scheduled");
      await asked;
      await move(run.id, { type: "PENDING" }, { type: "RUNNING" });
      release();
      await page.locator(".live-live").waitFor();
      await stateShown("Running");
    } finally {
      release();
      await page.unroute(stream);
    }
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
    // Where its code comes from: the pull steps a worker takes before each run.
    const steps = page.getByRole("definition").filter({ has: page.getByRole("list") });
    await steps.getByRole("listitem").first().waitFor();
    expect(await steps.getByRole("listitem").allTextContents()).toEqual([
      "git_clone https://example.com/acme/plot.git at main",
      "run_shell_script 'npm ci'",
    ]);
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

  it("runs server-b-flow from the form made from its protobuf DataInfo, and shows the gps.Response", async () => {
    await open(`/deployments/${serverBDeploymentId}`);
    await page.getByRole("button", { name: "Run", exact: true }).click();
    const form = page.getByRole("region", { name: "New run" });
    // The message is a group of fields named as in gps.proto; the lowerCamelCase spellings the server
    // also accepts (patternProperties) are no fields of their own.
    const dataInfo = form.locator("fieldset#root_data_info");
    await dataInfo.locator("legend", { hasText: "data_info" }).waitFor();
    await dataInfo.getByText("gps.DataInfo").first().waitFor();
    await dataInfo.getByText("object_storage_urls").first().waitFor();
    expect(await form.getByText(/objectStorageUrls/).count()).toBe(0);

    await dataInfo.getByRole("button", { name: "Add item" }).click();
    await dataInfo.getByRole("button", { name: "Add item" }).click();
    await form.locator("#root_data_info_object_storage_urls_0").fill("s3://bucket/a.parquet");
    await form.locator("#root_data_info_object_storage_urls_1").fill("s3://bucket/b.parquet");
    await form.getByLabel("dataset").fill("imagenet");
    await shoot("deployment-form-protobuf");
    await form.getByRole("button", { name: "Start run" }).click();

    await page.waitForURL(/\/runs\/[\w-]+$/);
    await stateShown("Completed");
    const result = page.locator("section", { has: page.getByRole("heading", { name: "Result" }) });
    await result.getByText("gps.Response").waitFor();
    expect(JSON.parse((await result.locator("pre").textContent()) ?? "")).toMatchObject({
      n_params: 2_000_000,
      latency: 5,
      accuracy: 1,
    });
    await shoot("deployment-run-protobuf-result");
    const runId = page.url().split("/").pop()!;
    expect((await api().readFlowRun({ params: { id: runId } })).parameters).toEqual({
      data_info: {
        object_storage_urls: ["s3://bucket/a.parquet", "s3://bucket/b.parquet"],
        dataset: "imagenet",
      },
    });

    // server-a-flow's Request holds two more messages: each is a group of its own inside the request.
    const serverA = await api().createDeployment({
      body: serverAFlow.toDeployment({ name: "server-a", client: server.client }).body,
    });
    await open(`/deployments/${serverA.id}`);
    await page.getByRole("button", { name: "Run", exact: true }).click();
    const request = form.locator("fieldset#root_request");
    await request.locator("legend", { hasText: "request" }).first().waitFor();
    for (const [group, field] of [
      ["model_info", "model_registry_urls"],
      ["data_info", "object_storage_urls"],
    ] as const) {
      const nested = request.locator(`fieldset#root_request_${group}`);
      await nested.locator("legend", { hasText: group }).waitFor();
      await nested.getByText(field).first().waitFor();
    }
    await request.getByLabel("author").waitFor();
    expect(await form.getByText(/modelInfo|dataInfo|objectStorageUrls/).count()).toBe(0);
    await shoot("deployment-form-protobuf-nested");
  });

  it("shows a run's task runs and subflows over time, reruns it, and deletes it", async () => {
    const run = await api().createDeploymentRun({
      params: { id: serverBDeploymentId },
      body: { parameters: { data_info: { object_storage_urls: ["s3://x/1", "s3://x/2"], dataset: "d" } } },
    });
    await open(`/runs/${run.id}`);
    await stateShown("Completed");
    const timeline = page.getByRole("table", { name: "Task runs and subflows over time" });
    const rows = timeline.locator("tbody tr");
    // Two download subflows (links to their runs), five preprocess tasks and the db-write.
    await expect.poll(() => rows.count()).toBe(8);
    expect(await timeline.getByRole("link", { name: /./ }).count()).toBe(2);
    // The rows come in before their last states do: wait for all eight bars to be completed.
    await expect
      .poll(() => timeline.locator(".gantt-bar-completed").count(), { timeout: UI_TIMEOUT })
      .toBe(8);
    expect(
      await timeline
        .getByRole("row", { name: /db-write/ })
        .getByText("db-lock")
        .count(),
    ).toBe(1);
    await shoot("run-timeline");

    // Retry schedules the finished run again; its serve process runs it once more.
    const states = page.getByRole("list", { name: "States" });
    await page.getByRole("button", { name: "Retry" }).click();
    await states.getByText("Rerun from the dashboard").waitFor();
    await expect
      .poll(() => states.locator(".badge", { hasText: /^Completed$/ }).count(), { timeout: UI_TIMEOUT })
      .toBe(2);
    await stateShown("Completed");
    await expect.poll(() => rows.count()).toBe(16);
    expect((await api().readFlowRun({ params: { id: run.id } })).runCount).toBe(1);
    await shoot("run-rerun");

    // Delete asks first; "No" keeps the run.
    await page.getByRole("button", { name: "Delete" }).click();
    const confirm = page.getByRole("group", { name: /Delete this run/ });
    await confirm.getByRole("button", { name: "No" }).click();
    await confirm.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Delete" }).click();
    await shoot("run-delete-confirm");
    await confirm.getByRole("button", { name: "Yes, delete" }).click();
    await page.waitForURL(`${server.url}/runs`);
    await expect(api().readFlowRun({ params: { id: run.id } })).rejects.toMatchObject({ code: "not_found" });
  });

  it("shows each pool's queues with runs in flight against their limits, pauses them and edits limits", async () => {
    await api().createWorkPool({ body: { name: "gpu", type: "process", concurrencyLimit: 3 } });
    await api().createWorkQueue({
      params: { pool: "gpu" },
      body: { name: "fast", priority: 1, concurrencyLimit: 2 },
    });
    await api().heartbeatWorker({ params: { pool: "gpu" }, body: { name: "gpu-worker" } });
    const deployment = await api().createDeployment({
      body: { flowName: "train", name: "gpu", workPoolName: "gpu", workQueueName: "fast" },
    });
    const startRun = async () => {
      const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
      await move(run.id, { type: "PENDING" });
    };
    await startRun();

    await open("/work-pools");
    const pool = page.getByRole("region", { name: "Work pool gpu" });
    const queue = pool.getByRole("table", { name: "Queues of gpu" }).getByRole("row", { name: /fast/ });
    const poolInFlight = pool.locator("dt", { hasText: "Runs in flight" }).locator("+ dd");
    await queue.getByText("1 / 2").waitFor();
    expect(await poolInFlight.textContent()).toBe("1 / 3");
    await pool.getByRole("cell", { name: "gpu-worker" }).waitFor();
    // Another run takes a place: the counts follow live.
    await startRun();
    await queue.getByText("2 / 2").waitFor();
    await expect.poll(() => poolInFlight.textContent()).toBe("2 / 3");

    await queue.getByRole("button", { name: "Pause queue fast" }).click();
    await queue.getByText("Paused").waitFor();
    expect((await api().readWorkQueue({ params: { pool: "gpu", name: "fast" } })).paused).toBe(true);
    await queue.getByRole("button", { name: "Resume queue fast" }).click();
    await queue.getByText("Ready").waitFor();

    await queue.getByRole("button", { name: "Edit the limit of queue fast" }).click();
    const queueLimit = queue.getByLabel("Limit of queue fast");
    await queueLimit.fill("-1");
    await queue.getByRole("button", { name: "Save" }).click();
    await queue.getByRole("alert").getByText("A whole number, 0 or more").waitFor();
    await queueLimit.fill("5");
    await queue.getByRole("button", { name: "Save" }).click();
    await queue.getByText("2 / 5").waitFor();
    expect((await api().readWorkQueue({ params: { pool: "gpu", name: "fast" } })).concurrencyLimit).toBe(5);

    // Emptied, the pool's limit is gone.
    await pool.getByRole("button", { name: "Edit the limit of pool gpu" }).click();
    await pool.getByLabel("Limit of pool gpu").fill("");
    await pool.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => poolInFlight.textContent()).toBe("2 / no limit");
    expect((await api().readWorkPool({ params: { name: "gpu" } })).concurrencyLimit).toBeNull();
    await pool.getByRole("button", { name: "Pause pool gpu" }).click();
    await pool.getByRole("heading", { name: /gpu.*Paused/ }).waitFor();
    expect((await api().readWorkPool({ params: { name: "gpu" } })).paused).toBe(true);
    await shoot("work-pools-edited");
  });

  it("shows a docker pool's job variables in the form made from its schema and saves its defaults", async () => {
    await api().createWorkPool({ body: { name: "containers", type: "docker" } });
    await open("/work-pools");
    const pool = page.getByRole("region", { name: "Work pool containers" });
    await pool.getByText("Job variables", { exact: true }).click();
    // The type's defaults fill the form.
    const pullPolicy = pool.getByLabel("Pull policy", { exact: true });
    expect(await pullPolicy.locator("option:checked").textContent()).toBe("if-not-present");
    expect(await pool.getByLabel("Auto remove", { exact: true }).isChecked()).toBe(true);
    await pool.getByLabel("Image", { exact: true }).fill("node:22");
    await pullPolicy.selectOption({ label: "always" });
    await shoot("work-pool-job-variables");
    await pool.getByRole("button", { name: "Save defaults" }).click();
    await expect
      .poll(async () =>
        jobVariableDefaults((await api().readWorkPool({ params: { name: "containers" } })).baseJobTemplate),
      )
      .toEqual({ image: "node:22", pullPolicy: "always", autoRemove: true, stopGracePeriodSeconds: 10 });
  });

  it("creates, edits, resets and deletes a tag's limit, showing which task runs hold its slots", async () => {
    await open("/concurrency-limits");
    const form = page.getByRole("form", { name: "New limit" });
    await form.getByLabel("Tag").fill("gpu");
    await form.getByLabel("Limit").fill("1");
    await form.getByRole("button", { name: "Add limit" }).click();
    const row = page.getByRole("table", { name: "Tag limits" }).getByRole("row", { name: /gpu/ });
    await row.getByText("0 / 1").waitFor();
    expect((await api().readConcurrencyLimit({ params: { tag: "gpu" } })).limit).toBe(1);

    // A running task with the tag holds the slot: it shows up live, linking to its flow run.
    const flowRun = await api().createFlowRun({
      body: { flowName: "train", name: "slot-holder", state: { type: "PENDING" } },
    });
    await move(flowRun.id, { type: "RUNNING" });
    const task = await api().createTaskRun({
      body: { flowRunId: flowRun.id, name: "fit", taskKey: "fit", tags: ["gpu"] },
    });
    await api().setTaskRunState({ params: { id: task.id }, body: { state: { type: "RUNNING" } } });
    await row.getByText("1 / 1").waitFor();
    expect(await row.getByRole("link", { name: "fit" }).getAttribute("href")).toBe(`/runs/${flowRun.id}`);
    await shoot("concurrency-limits-slots");

    await row.getByRole("button", { name: "Edit the limit of tag gpu" }).click();
    await row.getByLabel("Limit of tag gpu").fill("3");
    await row.getByRole("button", { name: "Save" }).click();
    await row.getByText("1 / 3").waitFor();
    expect((await api().readConcurrencyLimit({ params: { tag: "gpu" } })).limit).toBe(3);

    await row.getByRole("button", { name: "Reset" }).click();
    await row.getByRole("button", { name: "Yes, reset" }).click();
    await row.getByText("0 / 3").waitFor();
    expect((await api().readConcurrencyLimit({ params: { tag: "gpu" } })).activeSlots).toEqual([]);

    await row.getByRole("button", { name: "Delete" }).click();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await row.waitFor({ state: "detached" });
    await expect(api().readConcurrencyLimit({ params: { tag: "gpu" } })).rejects.toMatchObject({
      code: "not_found",
    });
    await move(flowRun.id, { type: "COMPLETED" });
  });

  it("lists global concurrency limits with their slots in use, and creates, disables, resets and deletes one", async () => {
    await open("/concurrency-limits");
    const form = page.getByRole("form", { name: "New global limit" });
    await form.getByLabel("Name").fill("warehouse");
    await form.getByLabel("Limit").fill("2");
    await form.getByLabel("Decay per second").fill("0.5");
    await form.getByRole("button", { name: "Add global limit" }).click();
    const row = page.getByRole("table", { name: "Global limits" }).getByRole("row", { name: /warehouse/ });
    await row.getByText("0 / 2").waitFor();
    await row.getByText("0.5/s").waitFor();
    expect(await api().readGlobalConcurrencyLimit({ params: { name: "warehouse" } })).toMatchObject({
      limit: 2,
      slotDecayPerSecond: 0.5,
      active: true,
    });

    // A holder's slot shows when the list is read again (grants are not announced).
    await api().acquireGlobalConcurrencySlots({ params: { name: "warehouse" }, body: {} });
    await row.getByText("1 / 2").waitFor({ timeout: UI_TIMEOUT });
    await shoot("global-concurrency-limits");

    await row.getByRole("button", { name: "Disable" }).click();
    await row.getByText("inactive").waitFor();
    expect((await api().readGlobalConcurrencyLimit({ params: { name: "warehouse" } })).active).toBe(false);
    await row.getByRole("button", { name: "Enable" }).click();
    await row.getByText("active", { exact: true }).waitFor();

    await row.getByRole("button", { name: "Reset" }).click();
    await row.getByRole("button", { name: "Yes, reset" }).click();
    await row.getByText("0 / 2").waitFor();
    await row.getByRole("button", { name: "Delete" }).click();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await row.waitFor({ state: "detached" });
    await expect(api().readGlobalConcurrencyLimit({ params: { name: "warehouse" } })).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("adds variables with values read as JSON when they parse, edits a value, refuses a taken name, and deletes one", async () => {
    await open("/variables");
    const form = page.getByRole("form", { name: "New variable" });
    const add = async (name: string, value: string, tags = "") => {
      await form.getByLabel("Name").fill(name);
      await form.getByLabel("Value").fill(value);
      await form.getByLabel("Tags").fill(tags);
      await form.getByRole("button", { name: "Add variable" }).click();
    };
    const table = page.getByRole("table", { name: "Variables" });
    const row = (name: string) => table.getByRole("row", { name: new RegExp(`^${name} `) });

    await add("region", "eu-west-1", "infra, eu");
    await row("region").getByText('"eu-west-1"').waitFor();
    await add("batch", "25");
    await row("batch").getByText("25", { exact: true }).waitFor();
    expect(await api().readVariable({ params: { name: "region" } })).toMatchObject({
      value: "eu-west-1",
      tags: ["infra", "eu"],
    });
    expect((await api().readVariable({ params: { name: "batch" } })).value).toBe(25);

    // A taken name is the server's refusal, shown beside the form; the value stays as it was.
    expectedErrors.push(/status of 409/);
    await add("region", "us-east-1");
    await form.getByRole("alert").getByText("variable 'region' already exists").waitFor();
    expect((await api().readVariable({ params: { name: "region" } })).value).toBe("eu-west-1");

    await row("batch").getByRole("button", { name: "Edit the value of batch" }).click();
    await row("batch").getByLabel("Value of batch").fill('{"size": 50}');
    await row("batch").getByRole("button", { name: "Save" }).click();
    await row("batch").getByText('{"size":50}').waitFor();
    expect((await api().readVariable({ params: { name: "batch" } })).value).toEqual({ size: 50 });
    await shoot("variables-edited");

    await row("region").getByRole("button", { name: "Delete" }).click();
    await row("region").getByRole("button", { name: "Yes, delete" }).click();
    await row("region").waitFor({ state: "detached" });
    await expect(api().readVariable({ params: { name: "region" } })).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("creates an automation from its form, shows what it did when a run fails, edits, pauses, resumes and deletes it", async () => {
    await open("/automations");
    await page.getByRole("button", { name: "New automation" }).click();
    const form = page.getByRole("region", { name: "New automation" });
    await form.locator("#root_name").fill("alerting failures");
    // Failed and crashed flow runs are proposed; the flow narrows it down to the runs below.
    expect(await form.getByRole("checkbox", { name: "flow-run.state-changed" }).isChecked()).toBe(true);
    expect(await form.getByRole("checkbox", { name: "FAILED" }).isChecked()).toBe(true);
    await form.getByLabel("Flows").fill("alerting");
    expect(await form.getByLabel("Action", { exact: true }).inputValue()).toBe("0");
    await form.getByLabel("Text").fill("{{ flow_run.name }} is {{ state.name }}: {{ state.message }}");

    // Checked with the model before it is sent: a proactive trigger needs its window.
    await form.getByRole("radio", { name: "proactive" }).check();
    await form.getByRole("button", { name: "Create" }).click();
    const problem = form.getByRole("alert").filter({ hasText: "This automation is not complete yet." });
    await problem.getByText("trigger.withinSeconds").waitFor();
    await problem.getByText(/a proactive trigger needs withinSeconds/).waitFor();
    await shoot("automation-form-invalid");
    expect((await api().listAutomations({})).items).toEqual([]);
    await form.getByRole("radio", { name: "reactive" }).check();
    await shoot("automation-form");
    await form.getByRole("button", { name: "Create" }).click();

    await page.waitForURL(/\/automations\/[\w-]+$/);
    await heading().getByText("alerting failures").waitFor();
    const id = page.url().split("/").pop()!;
    const runs = page.getByRole("region", { name: "Action runs" });
    await runs.getByText("It has not fired yet.").waitFor();
    await runs.locator(".live-live").waitFor();
    expect((await api().readAutomation({ params: { id } })).trigger).toMatchObject({
      events: ["flow-run.state-changed"],
      flows: ["alerting"],
      stateTypes: ["FAILED", "CRASHED"],
      posture: "reactive",
    });

    // A run of the flow fails: the automation fires, the test sink records the message, live.
    const failing = await api().createFlowRun({ body: { flowName: "alerting", name: "alerting-run" } });
    await move(
      failing.id,
      { type: "PENDING" },
      { type: "RUNNING" },
      { type: "FAILED", message: "disk full" },
    );
    const row = runs.getByRole("row", { name: /alerting-run is Failed: disk full/ });
    await row.locator(".badge", { hasText: /^Completed$/ }).waitFor();
    await row
      .getByRole("list", { name: "Attempts" })
      .getByText("recorded (test sink: nothing sent)")
      .waitFor();
    expect(await row.getByRole("link", { name: "alerting-run" }).getAttribute("href")).toBe(
      `/runs/${failing.id}`,
    );
    await shoot("automation");
    const [actionRun] = (await api().listActionRuns({ query: { automationId: id } })).items;
    expect(actionRun).toMatchObject({
      status: "COMPLETED",
      resolved: { text: "alerting-run is Failed: disk full" },
    });

    // An edit of the text sends the actions alone (a trigger sent would start its count afresh).
    await page.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("region", { name: "Edit alerting failures" });
    expect(await edit.getByLabel("Flows").inputValue()).toBe("alerting");
    await edit.getByLabel("Text").fill("{{ flow_run.name }}: {{ state.name }}");
    await edit.getByRole("button", { name: "Save" }).click();
    await edit.waitFor({ state: "detached" });
    await page.locator(".details").getByText("{{ flow_run.name }}: {{ state.name }}").waitFor();
    const edited = await api().readAutomation({ params: { id } });
    expect(edited.actions).toEqual([{ type: "test-sink", text: "{{ flow_run.name }}: {{ state.name }}" }]);
    expect(edited.trigger).toMatchObject({ flows: ["alerting"] });

    // In the list: when it last fired, pause and resume, delete.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Automations" }).click();
    const listed = page
      .getByRole("table", { name: "Automations" })
      .getByRole("row", { name: /alerting failures/ });
    await listed.getByText("flow-run.state-changed · state FAILED, CRASHED · flow alerting").waitFor();
    await listed.locator("time").waitFor();
    await listed.getByRole("button", { name: "Pause alerting failures" }).click();
    await listed.getByText("Paused", { exact: true }).waitFor();
    expect((await api().readAutomation({ params: { id } })).enabled).toBe(false);
    await shoot("automations-paused");
    await listed.getByRole("button", { name: "Resume alerting failures" }).click();
    await listed.getByText("Enabled", { exact: true }).waitFor();
    expect((await api().readAutomation({ params: { id } })).enabled).toBe(true);

    await listed.getByRole("button", { name: "Delete" }).click();
    await listed
      .getByRole("group", { name: /Delete alerting failures/ })
      .getByRole("button", { name: "No" })
      .click();
    await listed.getByRole("button", { name: "Delete" }).click();
    await listed.getByRole("button", { name: "Yes, delete" }).click();
    await listed.waitFor({ state: "detached" });
    await expect(api().readAutomation({ params: { id } })).rejects.toMatchObject({ code: "not_found" });
  });

  it("creates a compound trigger as JSON, shows it in a line, fires it on its second event and edits it as JSON", async () => {
    await open("/automations");
    await page.getByRole("button", { name: "New automation" }).click();
    const form = page.getByRole("region", { name: "New automation" });
    await form.getByRole("button", { name: "JSON", exact: true }).click();
    const automation = {
      name: "paid and shipped",
      trigger: {
        type: "compound",
        require: "all",
        triggers: [{ events: ["dash.paid"] }, { events: ["dash.shipped"] }],
        within: 3600,
      },
      actions: [{ type: "test-sink", text: "{{ event.name }} completed it" }],
    };
    await form
      .getByLabel("Automation (JSON)")
      .fill(JSON.stringify({ ...automation, trigger: { ...automation.trigger, triggers: [] } }));
    await form.getByRole("button", { name: "Create" }).click();
    await form
      .getByRole("alert")
      .getByText(/triggers is empty/)
      .waitFor();
    await form.getByLabel("Automation (JSON)").fill(JSON.stringify(automation));
    await form.getByRole("button", { name: "Create" }).click();

    await page.waitForURL(/\/automations\/[\w-]+$/);
    const id = page.url().split("/").pop()!;
    await page.locator(".details").getByText("all of (dash.paid | dash.shipped) within 3600 s").waitFor();
    const runs = page.getByRole("region", { name: "Action runs" });
    await runs.locator(".live-live").waitFor();
    await api().createEvent({ body: { event: "dash.paid" } });
    await api().createEvent({ body: { event: "dash.shipped" } });
    const row = runs.getByRole("row", { name: /dash\.shipped completed it/ });
    await row.locator(".badge", { hasText: /^Completed$/ }).waitFor();
    expect((await api().listActionRuns({ query: { automationId: id } })).items).toHaveLength(1);
    await shoot("automation-compound");

    // The editor opens as JSON, and says why the form will not take it.
    await page.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("region", { name: "Edit paid and shipped" });
    const json = edit.getByLabel("Automation (JSON)");
    expect(JSON.parse(await json.inputValue())).toMatchObject({
      trigger: { type: "compound", within: 3600 },
    });
    await edit.getByRole("button", { name: "Form", exact: true }).click();
    await edit
      .getByText("The form draws event and metric triggers; a compound trigger is edited as JSON.")
      .waitFor();
    await json.fill(
      JSON.stringify({
        ...automation,
        trigger: { ...automation.trigger, type: "sequence", require: undefined },
      }),
    );
    await edit.getByRole("button", { name: "Save" }).click();
    await edit.waitFor({ state: "detached" });
    await page.locator(".details").getByText("dash.paid, then dash.shipped, within 3600 s").waitFor();
    expect((await api().readAutomation({ params: { id } })).trigger).toMatchObject({ type: "sequence" });

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Automations" }).click();
    const listed = page
      .getByRole("table", { name: "Automations" })
      .getByRole("row", { name: /paid and shipped/ });
    await listed.getByText("dash.paid, then dash.shipped, within 3600 s").waitFor();
    await api().deleteAutomation({ params: { id } });
  });

  it("sets and deletes a secret, offered by name to notifications, its value never in the page", async () => {
    const value = "https://hooks.example.test/services/T000/B000/never-shown-7f3a9c";
    await open("/automations");
    const secrets = page.getByRole("region", { name: "Secrets" });
    await secrets.getByLabel("Name").fill("team-hook");
    await secrets.getByLabel("Value").fill(value);
    await secrets.getByRole("button", { name: "Set secret" }).click();
    const row = secrets.getByRole("row", { name: /team-hook/ });
    await row.getByText(`${value.length} characters`).waitFor();
    expect(await secrets.getByLabel("Value").inputValue()).toBe("");
    expect(await page.content()).not.toContain(value);

    // A Slack action chooses it by name; a slack action without one is not sent.
    await page.getByRole("button", { name: "New automation" }).click();
    const form = page.getByRole("region", { name: "New automation" });
    await form.locator("#root_name").fill("to the team");
    await form.getByLabel("Action", { exact: true }).selectOption({ label: "Slack message" });
    await form.getByRole("button", { name: "Create" }).click();
    await form.locator("#root_actions_0_secret__error").getByText("is required").waitFor();
    await form.locator("#root_actions_0_secret").selectOption("team-hook");
    await form.getByText('"secret": "team-hook"').waitFor();
    expect(await page.content()).not.toContain(value);
    await shoot("automations-secrets");

    // The same automation as JSON, checked with the model when saved.
    await form.getByRole("button", { name: "JSON", exact: true }).click();
    const json = form.getByLabel("Automation (JSON)");
    expect(JSON.parse(await json.inputValue())).toMatchObject({
      name: "to the team",
      actions: [{ type: "slack", secret: "team-hook" }],
    });
    await json.fill('{ "name": "to the team", "trigger": { "events": ["worker.offline"] }, "actions": [] }');
    await form.getByRole("button", { name: "Create" }).click();
    const problem = form.getByRole("alert");
    await problem.getByText("This automation is not complete yet.").waitFor();
    await problem.getByText("actions", { exact: true }).waitFor();
    await shoot("automation-json-invalid");
    expect((await api().listAutomations({})).items).toEqual([]);
    await form.getByRole("button", { name: "Cancel" }).click();

    await row.getByRole("button", { name: "Delete" }).click();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await row.waitFor({ state: "detached" });
    expect((await api().listSecrets({})).items.map((secret) => secret.name)).not.toContain("team-hook");
    expect(await page.content()).not.toContain(value);
  });

  it("lists the stored events newest first, live, filtered by name and resource, page by page", async () => {
    // More than a page of events (the suite's runs have made them, unless this test runs alone).
    for (
      let stored = (await api().listEvents({ query: { limit: 60 } })).items.length;
      stored < 60;
      stored += 4
    ) {
      const run = await api().createFlowRun({ body: { flowName: "filler", name: `filler-${stored}` } });
      await move(run.id, { type: "PENDING" }, { type: "RUNNING" }, { type: "COMPLETED" });
    }
    await open("/events");
    const table = page.getByRole("table", { name: "Events" });
    await table.locator(".badge").first().waitFor();
    await page.locator(".live-live").waitFor();

    // A run failing while the page is open: its events arrive live, the failure on top with its message.
    const run = await api().createFlowRun({ body: { flowName: "watched", name: "watched-run" } });
    await move(
      run.id,
      { type: "PENDING" },
      { type: "RUNNING" },
      { type: "FAILED", message: "out of memory" },
    );
    const failure = table.getByRole("row", {
      name: /flow-run\.state-changed.*watched-run.*Failed.*out of memory/,
    });
    await failure.waitFor();
    expect(await failure.getByRole("link", { name: "watched-run" }).getAttribute("href")).toBe(
      `/runs/${run.id}`,
    );
    await shoot("events");

    // Only this run's events: its four states, newest first.
    await failure.getByRole("button", { name: /Only the events of flow-run watched-run/ }).click();
    await page.waitForURL(`${server.url}/events?resource=${run.id}`);
    const states = () => table.locator("tbody .badge").allTextContents();
    await expect.poll(states).toEqual(["Failed", "Running", "Pending", "Scheduled"]);

    // By name prefix: work pool changes only.
    await page.getByRole("button", { name: "Clear" }).click();
    await page.waitForURL(`${server.url}/events`);
    await page.getByLabel("Name starts with").fill("work-pool.");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(`${server.url}/events?name=work-pool.`);
    const names = () => table.locator("tbody tr td:nth-child(2)").allTextContents();
    await expect.poll(async () => new Set(await names())).toEqual(new Set(["work-pool.updated"]));
    await shoot("events-filtered");

    // Fifty at a time.
    await page.getByRole("button", { name: "Clear" }).click();
    await page.waitForURL(`${server.url}/events`);
    const rows = table.locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(50);
    await page.getByRole("button", { name: "Load more" }).click();
    await expect.poll(() => rows.count()).toBeGreaterThan(50);
  });

  it("creates a webhook with a token and copies its URL; its requests are events that an automation made in the form reacts to; disables and deletes it", async () => {
    // An automation on a custom event, from the form: Baton's events unchecked, a custom name typed.
    await open("/automations");
    await page.getByRole("button", { name: "New automation" }).click();
    const form = page.getByRole("region", { name: "New automation" });
    await form.locator("#root_name").fill("on finished deploys");
    await form.getByRole("checkbox", { name: "flow-run.state-changed" }).uncheck();
    await form.getByRole("checkbox", { name: "FAILED" }).uncheck();
    await form.getByRole("checkbox", { name: "CRASHED" }).uncheck();
    await form.getByLabel("Custom events").fill("deploys.finished");
    await form.getByRole("button", { name: "Create" }).click();
    await page.waitForURL(/\/automations\/[\w-]+$/);
    const automationId = page.url().split("/").pop()!;
    expect((await api().readAutomation({ params: { id: automationId } })).trigger).toMatchObject({
      events: ["deploys.finished"],
    });

    await open("/webhooks");
    await page.getByText("No webhooks.").waitFor();
    const create = page.getByRole("form", { name: "New webhook" });
    await create.getByLabel("Name").fill("deploys");
    await create.getByLabel("Event").fill("deploys.{{ body.kind }}");
    await create.getByLabel("Payload").fill("{not json");
    await create.getByRole("button", { name: "Create webhook" }).click();
    await create
      .getByRole("alert")
      .getByText(/The payload is not JSON/)
      .waitFor();
    await create.getByLabel("Payload").fill('{"sha": "{{ body.sha }}"}');
    await create.getByRole("button", { name: "Create webhook" }).click();
    const token = await page.getByRole("status", { name: "New token" }).locator("code").last().textContent();
    expect(token).toMatch(/^[\w-]{32}$/);

    const table = page.getByRole("table", { name: "Webhooks" });
    const row = table.getByRole("row", { name: /deploys/ });
    await row.getByText("required").waitFor();
    await shoot("webhooks-created");
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    await row.getByRole("button", { name: "Copy URL" }).click();
    await row.getByRole("button", { name: "Copied" }).waitFor();
    const url = await page.evaluate(() => navigator.clipboard.readText());
    const webhook = await api().readWebhook({ params: { name: "deploys" } });
    expect(url).toBe(`${server.url}${webhook.path}`);

    // An external system calls it: no API key, the webhook's token.
    const call = () =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-baton-webhook-token": token! },
        body: JSON.stringify({ kind: "finished", sha: "abc123" }),
      });
    expect((await call()).status).toBe(202);
    await open("/events");
    await page
      .getByRole("table", { name: "Events" })
      .getByRole("row", { name: /deploys\.finished.*webhook.*sha.*abc123/ })
      .waitFor();
    await expect
      .poll(async () => (await api().listActionRuns({ query: { automationId } })).items.length)
      .toBe(1);

    await open("/webhooks");
    await row.getByRole("button", { name: "Disable deploys" }).click();
    await row.locator(".badge", { hasText: /^Disabled$/ }).waitFor();
    expect((await call()).status).toBe(404);
    await row.getByRole("button", { name: "Delete" }).click();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await page.getByText("No webhooks.").waitFor();
    expect((await api().listWebhooks({})).items).toEqual([]);
  });

  it("shows a run's artifacts rendered on its page, never running HTML in markdown, and a key's versions", async () => {
    const run = await api().createFlowRun({ body: { flowName: "reports", name: "artifact-run" } });
    const task = await api().createTaskRun({ body: { flowRunId: run.id, name: "load-0", taskKey: "load" } });
    const older = await api().createFlowRun({ body: { flowName: "reports", name: "older-run" } });
    await api().createArtifact({
      body: { type: "markdown", key: "browser-report", data: "# Old report", flowRunId: older.id },
    });
    const hostile = [
      "# Report",
      "",
      "**7** rows <script>window.pwned = 'script'</script>",
      "",
      '<img src="x" onerror="window.pwned = \'img\'">',
      "",
      "[bad](javascript:window.pwned='link') and [good](https://example.com/report)",
      "",
      "| region | rows |",
      "| --- | --- |",
      "| eu | 3 |",
    ].join("\n");
    await api().createArtifact({
      body: {
        type: "markdown",
        key: "browser-report",
        data: hostile,
        description: "nightly",
        flowRunId: run.id,
      },
    });
    await api().createArtifact({
      body: {
        type: "table",
        data: [
          { region: "eu", rows: 3 },
          { region: "us", rows: 4 },
        ],
        flowRunId: run.id,
        taskRunId: task.id,
      },
    });
    await api().createArtifact({
      body: {
        type: "link",
        data: { link: "javascript:window.pwned='href'", linkText: "sneaky" },
        flowRunId: run.id,
      },
    });
    const progress = await api().createArtifact({
      body: { type: "progress", key: "browser-progress", data: 40, flowRunId: run.id, taskRunId: task.id },
    });

    await open(`/runs/${run.id}`);
    const section = page.getByRole("region", { name: "Artifacts" });
    const report = section.getByRole("article", { name: "browser-report" });
    await report.getByRole("heading", { name: "Report" }).waitFor();
    expect(await report.locator("strong").textContent()).toBe("7");
    // The HTML is shown as text: no element made of it, nothing of it run.
    await report.getByText("<script>window.pwned = 'script'</script>", { exact: false }).waitFor();
    await report.getByText(`<img src="x" onerror="window.pwned = 'img'">`).waitFor();
    expect(await section.locator("script, img, iframe").count()).toBe(0);
    expect(await report.getByRole("link", { name: "good" }).getAttribute("href")).toBe(
      "https://example.com/report",
    );
    expect(await report.getByRole("link", { name: "bad" }).count()).toBe(0);
    expect(await report.getByRole("cell", { name: "eu" }).count()).toBe(1);
    // A link that is not http or https is its text, never an href.
    await section.getByText("javascript:window.pwned='href'").waitFor();
    expect(await page.locator('a[href^="javascript"]').count()).toBe(0);
    const rows = section.getByRole("table", { name: "table artifact" });
    expect(await rows.getByRole("columnheader").allTextContents()).toEqual(["region", "rows"]);
    expect(await rows.getByRole("row").nth(2).getByRole("cell").allTextContents()).toEqual(["us", "4"]);
    await section.getByText("from load-0", { exact: false }).first().waitFor();
    const bar = section.getByRole("progressbar", { name: "browser-progress" });
    expect(await bar.getAttribute("aria-valuenow")).toBe("40");

    // The bar moves while the run goes on.
    await api().updateArtifact({ params: { id: progress.id }, body: { data: 80 } });
    await expect.poll(() => bar.getAttribute("aria-valuenow"), { timeout: UI_TIMEOUT }).toBe("80");
    await shoot("run-artifacts");
    expect(await page.evaluate(() => (window as { pwned?: string }).pwned)).toBeUndefined();

    // The Artifacts page: the newest of each key; a key's page: the newest in full, then its history.
    await open("/artifacts");
    const listing = page.getByRole("table", { name: "Artifacts" });
    await listing.getByRole("row", { name: /browser-report markdown nightly artifact-run/ }).waitFor();
    await listing.getByRole("link", { name: "browser-report" }).click();
    await page.waitForURL(`${server.url}/artifacts/browser-report`);
    const latest = page.getByRole("region", { name: "Latest version" });
    await latest.getByRole("heading", { name: "Report" }).waitFor();
    await latest.getByRole("link", { name: "artifact-run" }).waitFor();
    const history = page.getByRole("region", { name: "History" });
    await history.locator("summary", { hasText: "older-run" }).click();
    await history.getByRole("heading", { name: "Old report" }).waitFor();
    await shoot("artifact-key");
    expect(await page.evaluate(() => (window as { pwned?: string }).pwned)).toBeUndefined();
  });

  it("lists runs paused for typed input live, checks the form, and resumes them from their page and from the list to completion with the input", async () => {
    const approval = startProcess([servedApproval], { env: { BATON_API_URL: server.apiUrl } });
    try {
      const deploymentId = (await approval.waitForLine(/^ready /)).split(" ")[1]!;
      await open("/waiting-for-input");
      await page.getByText("No run is waiting for input.").waitFor();

      // The list follows the run into its pause, live.
      const run = await api().createDeploymentRun({
        params: { id: deploymentId },
        body: { parameters: { amount: 120 } },
      });
      const row = page.getByRole("table", { name: "Runs waiting for input" }).getByRole("row", {
        name: new RegExp(`^payout ${run.name} Paused Check the amount \\(120\\), then go on`),
      });
      await row.waitFor();
      await shoot("waiting-for-input");
      await row.getByRole("link", { name: run.name }).click();
      await page.waitForURL(`${server.url}/runs/${run.id}`);
      await stateShown("Paused");

      // The first pause asks for no input: only Resume.
      const panel = page.getByRole("region", { name: "Waiting for input" });
      await panel.getByText("Check the amount (120), then go on").waitFor();
      await panel.getByText(/failing the run/).waitFor();
      expect(await panel.locator("input, select, textarea").count()).toBe(0);
      await shoot("run-paused");
      await panel.getByRole("button", { name: "Resume" }).click();

      // The second asks for typed input, in a form made from its schema.
      await panel.getByText("Approve the payout").waitFor();

      // Nothing is sent while a required field is empty; it says so under itself, and the run waits.
      await panel.getByRole("button", { name: "Resume" }).click();
      await panel.locator("#root_note__error").getByText("is required").waitFor();
      await shoot("run-paused-invalid");
      expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("PAUSED");

      await panel.getByLabel("approved").check();
      await panel.getByLabel(/^note/).fill("within budget");
      await panel.getByRole("button", { name: "Resume" }).click();
      await stateShown("Completed");
      expect(await panel.count()).toBe(0);
      const result = page.locator("section", { has: page.getByRole("heading", { name: "Result" }) });
      expect(JSON.parse((await result.locator("pre").textContent()) ?? "")).toEqual({
        amount: 120,
        approved: true,
        note: "within budget",
      });
      const states = page.getByRole("list", { name: "States" }).locator(".badge");
      await expect
        .poll(() => states.allTextContents())
        .toEqual(["Scheduled", "Pending", "Running", "Paused", "Resumed", "Paused", "Resumed", "Completed"]);
      await shoot("run-resumed");

      // The list answers too: Respond opens a run's form under its row, and its next question after.
      await open("/waiting-for-input");
      await page.getByText("No run is waiting for input.").waitFor();
      const second = await api().createDeploymentRun({
        params: { id: deploymentId },
        body: { parameters: { amount: 80 } },
      });
      await page
        .getByRole("row", { name: new RegExp(`^payout ${second.name} Paused Check the amount`) })
        .waitFor();
      await page
        .getByRole("row", { name: new RegExp(second.name) })
        .getByRole("button", { name: "Respond" })
        .click();
      const form = page.getByRole("region", { name: `Resume ${second.name}` });
      await form.getByRole("button", { name: "Resume" }).click();
      await form.getByText("Approve the payout").waitFor();
      await form.getByLabel(/^note/).fill("declined: over the limit");
      await shoot("waiting-for-input-respond");
      await form.getByRole("button", { name: "Resume" }).click();
      await page.getByText("No run is waiting for input.").waitFor();
      await open(`/runs/${second.id}`);
      await stateShown("Completed");
      expect(JSON.parse((await result.locator("pre").textContent()) ?? "")).toEqual({
        amount: 80,
        approved: false,
        note: "declined: over the limit",
      });
    } finally {
      expect(await approval.stop()).toBe(0);
    }
  });
});
