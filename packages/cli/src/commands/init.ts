import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, join, relative, resolve } from "node:path";
import { Command } from "commander";
import { print } from "../format.js";

interface CliManifest {
  version: string;
  dependencies: Record<string, string>;
}
const cli = createRequire(import.meta.url)("../../package.json") as CliManifest;

/**
 * Install scripts a Baton project runs, for npm's `allowScripts` policy (npm 11 warns about any
 * not listed, and fails under --strict-allow-scripts). better-sqlite3 must build or fetch its
 * native module; esbuild (under tsx) checks its binary. The others are not needed: ssh2 and
 * cpu-features (under dockerode) only try optional native speed-ups, protobufjs (under dockerode's
 * gRPC client) only checks its command-line tools.
 */
export const ALLOW_SCRIPTS = {
  "better-sqlite3": true,
  esbuild: true,
  ssh2: false,
  "cpu-features": false,
  protobufjs: false,
};

/** The Baton packages a project depends on: the CLI (server, worker, deploy) and the SDK (flow code). */
const DIRECT = ["@baton/cli", "@baton/sdk"];

/** `@baton/cli` → `baton-cli-0.1.0.tgz`, the name `npm pack` gives it. */
const tarballName = (name: string): string =>
  `${name.replace(/^@/, "").replace("/", "-")}-${cli.version}.tgz`;

/**
 * The @baton dependencies: this release's version from the registry, or, with a folder of tarballs
 * (`npm run pack`), every Baton tarball in it (the SDK's and CLI's own Baton dependencies too, since
 * those are not on the registry either).
 */
function batonDependencies(packagesDir: string | undefined): Record<string, string> {
  if (packagesDir === undefined) return Object.fromEntries(DIRECT.map((name) => [name, cli.version]));
  const folder = resolve(packagesDir);
  const tarballs = existsSync(folder) ? readdirSync(folder) : [];
  const missing = DIRECT.map(tarballName).filter((file) => !tarballs.includes(file));
  if (missing.length > 0) {
    throw new Error(
      `${folder} has no ${missing.join(", ")}: pack this release there first ('npm run pack' in the Baton repository)`,
    );
  }
  const suffix = `-${cli.version}.tgz`;
  return Object.fromEntries(
    tarballs
      .filter((file) => file.startsWith("baton-") && file.endsWith(suffix))
      .map((file) => [`@baton/${file.slice("baton-".length, -suffix.length)}`, `file:${join(folder, file)}`]),
  );
}

function packageJson(name: string, packagesDir: string | undefined): string {
  const manifest = {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: { typecheck: "tsc" },
    dependencies: { ...batonDependencies(packagesDir), zod: cli.dependencies.zod },
    devDependencies: { "@types/node": "^22.0.0", tsx: cli.dependencies.tsx, typescript: "~5.9.3" },
    allowScripts: ALLOW_SCRIPTS,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2023",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": true,
    "noEmit": true,
    "types": ["node"]
  },
  "include": ["**/*.ts"],
  "exclude": ["node_modules"]
}
`;

const FLOWS = `// Your flows. This module only declares and exports them, so \`baton deploy\` and workers can import
// it without starting a run; running it directly (\`npx tsx flows.ts\`) starts one run of \`hello\`.
import { realpathSync } from "node:fs";
import { z } from "zod";
import { flow, task } from "@baton/sdk";

const countTo = task({ name: "count-to", retries: 2 }, async (count: number) =>
  Array.from({ length: count }, (_, i) => i + 1),
);

const add = task({ name: "add" }, async (numbers: number[]) => numbers.reduce((sum, n) => sum + n, 0));

export const hello = flow(
  {
    name: "hello",
    parameters: { name: z.string().default("world"), count: z.number().int().min(1).default(3) },
  },
  async ({ name, count }, { logger }) => {
    const total = await add(await countTo(count));
    logger.info(\`1 to \${count} adds up to \${total}\`);
    return { greeting: \`hello, \${name}\`, total };
  },
);

// Only when this file is the program itself, never when it is imported.
if (process.argv[1] && realpathSync(process.argv[1]) === import.meta.filename) {
  console.log(await hello({}));
}
`;

const BATON_YAML_STARTER = `# Deployments of this project's flows: \`npx baton deploy --all\` registers them all,
# \`npx baton deploy NAME\` the one named. Entrypoints are relative to this file's folder.
deployments:
  - name: main
    entrypoint: flows.ts:hello
    workPool: local # create it with: npx baton work-pool create local --type process
    # workQueue: default
    parameters:
      name: world
    # jobVariables: { env: { LOG_LEVEL: debug } }
    # tags: [examples]
    # concurrencyLimit: 1
    # collisionStrategy: ENQUEUE # or CANCEL_NEW: a run due while the limit is full is cancelled
    # runRetentionDays: 30
    schedules:
      # Each schedule: one of cron, interval (seconds) or rrule, in a time zone (UTC by default),
      # with parameters of its own over the deployment's; active: false adds it paused.
      - cron: "0 9 * * 1-5"
        timezone: Europe/Paris
        parameters:
          name: weekdays
        active: false
`;

const GITIGNORE = `node_modules/
*.tsbuildinfo
`;

const readme = (name: string): string => `# ${name}

A [Baton](https://www.npmjs.com/package/@baton/cli) project: flows in \`flows.ts\`.

\`\`\`sh
npm install
\`\`\`

1. Start the server (dashboard and API at http://127.0.0.1:4200; SQLite under \`~/.baton\`):

   \`\`\`sh
   npx baton server start
   \`\`\`

2. In another terminal, run the flow tracked (it shows at http://127.0.0.1:4200/runs):

   \`\`\`sh
   BATON_API_URL=http://127.0.0.1:4200/api npx tsx flows.ts
   \`\`\`

3. Deploy it to a work pool, start a worker, and run the deployment:

   \`\`\`sh
   npx baton work-pool create local --type process
   npx baton deploy --all   # the deployments of baton.yaml
   npx baton worker start --pool local &
   npx baton deployment run hello/main --param name=Ada --watch
   \`\`\`

\`npm run typecheck\` checks the types. Without \`BATON_API_URL\`, \`npx tsx flows.ts\` runs the flow
untracked, with the same retries and results.
`;

/** Refuses to overwrite: every file that is there already is named. */
export function scaffold(dir: string, options: { packages?: string } = {}): string[] {
  const name =
    basename(resolve(dir))
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-")
      .replace(/^[._-]+/, "") || "baton-project";
  const files: Record<string, string> = {
    "package.json": packageJson(name, options.packages),
    "tsconfig.json": TSCONFIG,
    "flows.ts": FLOWS,
    ".gitignore": GITIGNORE,
    "README.md": readme(name),
    "baton.yaml": BATON_YAML_STARTER,
  };
  const existing = Object.keys(files).filter((file) => existsSync(join(dir, file)));
  if (existing.length > 0) {
    throw new Error(
      `${resolve(dir)} already has ${existing.join(", ")}: baton init does not overwrite files; choose an empty folder`,
    );
  }
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text, { flag: "wx" });
  return Object.keys(files);
}

export function initCommand(): Command {
  return new Command("init")
    .description(
      "Start a Baton project: package.json, tsconfig, flows.ts with a flow and two tasks, README, baton.yaml",
    )
    .argument("[dir]", "the project's folder (made if missing)", ".")
    .option(
      "--packages <folder>",
      "depend on the Baton tarballs in this folder ('npm run pack') instead of the registry (BATON_INIT_PACKAGES)",
    )
    .action((dir: string, options: { packages?: string }) => {
      const packages = options.packages ?? (process.env.BATON_INIT_PACKAGES || undefined);
      const files = scaffold(dir, { packages });
      const fromHere = relative(process.cwd(), resolve(dir));
      const cd = fromHere.startsWith("..") ? resolve(dir) : fromHere;
      print(
        [
          `Created ${files.join(", ")} in ${resolve(dir)}.`,
          "",
          "Next:",
          ...(cd ? [`  cd ${cd}`] : []),
          "  npm install",
          "  npx baton server start                                  # then, in another terminal:",
          "  BATON_API_URL=http://127.0.0.1:4200/api npx tsx flows.ts  # a tracked run",
          "",
          "README.md shows how to deploy the flow and start a worker.",
        ].join("\n"),
      );
    });
}
