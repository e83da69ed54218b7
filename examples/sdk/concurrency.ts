// npx tsx examples/sdk/concurrency.ts  — submit, map, subflows and a tag concurrency limit.
// With a server: `baton concurrency-limit create db-lock 1` makes the db-write tasks take turns.
import { z } from "zod";
import { flow, task } from "@baton/sdk";

const preprocess = task({ name: "preprocess" }, async (n: number) => n * 2);
const dbWrite = task({ name: "db-write", tags: ["db-lock"] }, async (rows: number) => rows);

const download = flow({ name: "download", parameters: { url: z.string() } }, async ({ url }, { logger }) => {
  logger.info(`downloading ${url}`);
  return url.length;
});

export const pipeline = flow({ name: "pipeline" }, async () => {
  const sizes = await Promise.all(["s3://a", "s3://bb"].map((url) => download({ url }))); // subflows
  const doubled = await Promise.all(preprocess.map(sizes)); // one task run per item, concurrently
  const written = preprocess.submit(10); // a future: await it when you need it
  await Promise.all([dbWrite(doubled[0]!), dbWrite(doubled[1]!)]);
  return { doubled, written: await written };
});

console.log(await pipeline());
