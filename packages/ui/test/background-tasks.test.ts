// Background task runs (task.delay(), no flow run) in the dashboard: their list, and the page of one
// that completed and of one that failed. Needs a built dashboard (npm run build -w @baton/ui).
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { StateInput } from "@baton/core";
import { startTestServer, type TestServer } from "../../../test/helpers.js";

const CHROMIUM = "/usr/bin/chromium";

describe("background task runs in the dashboard", () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[];
  const api = () => server.client.api;
  const open = async (path: string) => {
    await page.goto(`${server.url}${path}`);
    await page.getByRole("heading", { level: 1 }).first().waitFor();
  };
  /** A background run of `taskKey` with these arguments, taken through these states as a worker would. */
  const background = async (taskKey: string, args: unknown[], ...states: StateInput[]) => {
    const run = await api().createTaskRun({
      body: {
        name: `${taskKey}-${args.join("-")}`,
        taskKey,
        parameters: { args: args as never },
        state: { type: "SCHEDULED" },
      },
    });
    for (const state of states) {
      await api().setTaskRunState({ params: { id: run.id }, body: { state } });
    }
    return run;
  };

  beforeAll(async () => {
    server = await startTestServer("sqlite", { serviceLoopSeconds: 1 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });
  beforeEach(async () => {
    consoleErrors = [];
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));
  });
  afterEach(async () => {
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it("lists background runs, and shows one's arguments, result and states", async () => {
    const done = await background(
      "send-email",
      ["ada@example.com"],
      { type: "PENDING" },
      { type: "RUNNING" },
      { type: "COMPLETED", data: { kind: "inline", serializer: "json", value: { sent: "ada@example.com" } } },
    );
    // A flow run's task is not listed here.
    const flowRun = await api().createFlowRun({ body: { flowName: "etl" } });
    await api().createTaskRun({ body: { flowRunId: flowRun.id, name: "inside-0", taskKey: "inside" } });

    await open("/background-tasks");
    const table = page.getByRole("table", { name: "Background task runs" });
    await table.getByRole("link", { name: done.name }).waitFor();
    expect(await table.getByRole("row").count()).toBe(2); // the heading and the one run
    await table.getByRole("link", { name: done.name }).click();

    await page.getByRole("heading", { level: 1, name: done.name }).waitFor();
    const main = page.locator("main");
    await main.getByText("none: a background task run").waitFor();
    await main.getByText('"ada@example.com"').first().waitFor();
    await main.getByText('"sent": "ada@example.com"').waitFor();
    const states = page.getByRole("table", { name: "States" });
    await expect.poll(() => states.getByRole("row").count()).toBe(4);
  });

  it("shows a failed run's error, and follows it live", async () => {
    const failing = await background("charge-card", [42], { type: "PENDING" }, { type: "RUNNING" });
    await open(`/task-runs/${failing.id}`);
    await page
      .getByRole("heading", { level: 1 })
      .locator(".badge", { hasText: /^Running$/ })
      .waitFor();
    await api().setTaskRunState({
      params: { id: failing.id },
      body: { state: { type: "FAILED", message: "Error: card declined" } },
    });
    await page
      .getByRole("heading", { level: 1 })
      .locator(".badge", { hasText: /^Failed$/ })
      .waitFor();
    await page.getByRole("heading", { name: "Error" }).waitFor();
    await page.locator("main").getByText("Error: card declined").first().waitFor();
  });
});
