// The dashboard's automation editor and pages with the newer kinds: a notification to several
// destinations, a state change and a metric trigger made from the form, and a deployment's trigger
// shown as the deployment's. Needs a built dashboard (npm run build -w @baton/ui).
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/helpers.js";

const CHROMIUM = "/usr/bin/chromium";

describe("automation kinds in the dashboard", () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[];
  const api = () => server.client.api;
  const open = async (path: string) => {
    await page.goto(`${server.url}${path}`);
    await page.getByRole("heading", { level: 1 }).first().waitFor();
  };
  const newAutomation = async () => {
    await open("/automations");
    await page.getByRole("button", { name: "New automation" }).click();
    return page.getByRole("region", { name: "New automation" });
  };

  beforeAll(async () => {
    server = await startTestServer("sqlite", { serviceLoopSeconds: 1 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    for (const name of ["team-slack", "pager-hook"]) {
      await api().setSecret({ body: { name, value: `https://hooks.example.com/${name}` } });
    }
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

  it("makes a notification to two destinations and a state change from the form, and shows them", async () => {
    const form = await newAutomation();
    await form.locator("#root_name").fill("failures everywhere");
    const kind = form.getByLabel("Action", { exact: true });
    await kind.selectOption({ label: "Notify several destinations" });
    for (const [index, type, secret] of [
      [0, "slack", "team-slack"],
      [1, "webhook", "pager-hook"],
    ] as const) {
      // A notification needs a destination: the form starts with one.
      if (index > 0) await form.getByRole("button", { name: "Add item" }).first().click();
      await form.locator(`#root_actions_0_destinations_${index}_type`).selectOption(type);
      await form.locator(`#root_actions_0_destinations_${index}_secret`).selectOption(secret);
    }
    await form.getByRole("button", { name: "Create" }).click();
    await page.waitForURL(/\/automations\/[\w-]+$/);
    const id = page.url().split("/").pop()!;
    await page
      .locator(".details")
      .getByText("send-notification (slack team-slack, webhook pager-hook)")
      .waitFor();
    expect((await api().readAutomation({ params: { id } })).actions).toEqual([
      {
        type: "send-notification",
        destinations: [
          { type: "slack", secret: "team-slack" },
          { type: "webhook", secret: "pager-hook" },
        ],
      },
    ]);

    const second = await newAutomation();
    await second.locator("#root_name").fill("fail the rejected");
    await second.getByLabel("Action", { exact: true }).selectOption({ label: "Change a flow run's state" });
    await second.locator("#root_actions_0_state").selectOption("FAILED");
    await second.getByRole("button", { name: "Create" }).click();
    await page.waitForURL(/\/automations\/[\w-]+$/);
    await page.locator(".details").getByText("change-flow-run-state of the event to FAILED").waitFor();
  });

  it("makes a metric trigger from the form, and shows it in a line", async () => {
    const form = await newAutomation();
    await form.locator("#root_name").fill("etl failing");
    await form.getByLabel("Trigger kind").selectOption("metric");
    await form.locator("#root_trigger_threshold").fill("2");
    await form.getByLabel("Flows").fill("etl");
    await form.getByRole("button", { name: "Create" }).click();
    // Checked with the model before it is sent: a ratio is at most 1.
    await form
      .getByRole("alert")
      .getByText(/a failure-ratio threshold is a ratio from 0 to 1/)
      .waitFor();
    await form.locator("#root_trigger_threshold").fill("0.25");
    await form.locator("#root_trigger_operator").selectOption(">=");
    await form.getByRole("button", { name: "Create" }).click();
    await page.waitForURL(/\/automations\/[\w-]+$/);
    const id = page.url().split("/").pop()!;
    await page.locator(".details").getByText("failure-ratio >= 0.25 over 3600 s · flow etl").waitFor();
    expect((await api().readAutomation({ params: { id } })).trigger).toEqual({
      type: "metric",
      metric: "failure-ratio",
      operator: ">=",
      threshold: 0.25,
      rangeSeconds: 3600,
      firingForSeconds: 0,
      minRuns: 1,
      flows: ["etl"],
    });

    // Edited, it opens in the form with its kind.
    await page.getByRole("button", { name: "Edit" }).click();
    const edit = page.getByRole("region", { name: "Edit etl failing" });
    expect(await edit.getByLabel("Trigger kind").inputValue()).toBe("metric");
    expect(await edit.locator("#root_trigger_threshold").inputValue()).toBe("0.25");
  });

  it("shows a deployment's trigger as the deployment's, with a link to it", async () => {
    const deployment = await api().createDeployment({ body: { name: "release", flowName: "shipper" } });
    const [trigger] = await api().replaceDeploymentTriggers({
      params: { id: deployment.id },
      body: {
        triggers: [{ events: ["release.requested"], parameters: { version: "{{ event.payload.v }}" } }],
      },
    });
    await open("/automations");
    await page
      .getByRole("table", { name: "Automations" })
      .getByRole("link", { name: "deployment shipper:release on release.requested" })
      .click();
    await page.waitForURL(new RegExp(`/automations/${trigger!.id}$`));
    await page.locator(".details").getByText("run-deployment shipper/release").waitFor();
    await page.locator(".details").getByRole("link", { name: "Its deployment" }).click();
    await page.waitForURL(new RegExp(`/deployments/${deployment.id}$`));
  });
});
