// node examples/sdk/plain.mjs  — plain JavaScript, no build step and no TypeScript runner.
import { flow, task } from "@baton/sdk";

const greet = task({ name: "greet" }, async (name) => `hello, ${name}`);
const greetAll = flow({ name: "greet-all" }, async ({ names }) =>
  Promise.all(names.map((name) => greet(name))),
);

console.log(await greetAll({ names: ["ada", "grace"] }));
