// npx tsx examples/sdk/hello.ts  — with BATON_API_URL set, the run shows in the dashboard.
import { z } from "zod";
import { flow, isMainModule, task } from "@baton/sdk";

const fetchPage = task({ name: "fetch-page", retries: 2, retryDelaySeconds: 1 }, async (url: string) => {
  return `<html>${url}</html>`.length;
});

export const crawl = flow(
  { name: "crawl", parameters: { urls: z.array(z.string()), depth: z.number().int().default(1) } },
  async ({ urls, depth }, { logger }) => {
    logger.info(`crawling ${urls.length} pages at depth ${depth}`);
    const sizes = await Promise.all(urls.map((url) => fetchPage(url)));
    return { pages: urls.length, bytes: sizes.reduce((a, b) => a + b, 0) };
  },
);

// Only when this file is the program: `baton deploy examples/sdk/hello.ts:crawl` and workers import it.
if (isMainModule(import.meta)) console.log(await crawl({ urls: ["a", "b", "c"] }));
