#!/usr/bin/env node
// The build context of the server image (Containerfile): the built Baton packages and their production
// dependencies, as installed here, without the development ones (vitest, typescript, vite, … are most
// of node_modules). Build first (npm ci builds); then:
//
//   node scripts/image-context.mjs DIR
//   podman build -f Containerfile -t baton-server DIR
//
// DIR/deps/node_modules holds the registry packages and DIR/baton/node_modules/@baton the workspace's,
// so that the image's layer of dependencies stays cached while Baton's own code changes. Copied from
// this machine, not installed in the image: no registry needs to be reachable from the build, and the
// native SQLite module is the one built here for this node (the base image's node must match it).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";

const root = resolve(import.meta.dirname, "..");
const out = resolve(process.argv[2] ?? "");
if (!process.argv[2]) {
  console.error("usage: node scripts/image-context.mjs DIR");
  process.exit(2);
}

/** The workspace's packages by folder, each with its name. */
const workspaces = new Map(
  readdirSync(join(root, "packages")).map((folder) => {
    const dir = join(root, "packages", folder);
    return [dir, JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name];
  }),
);
const required = join(root, "packages", "cli", "dist", "bin.js");
if (!existsSync(required) || !existsSync(join(root, "packages", "ui", "dist", "index.html"))) {
  console.error("image-context: build first (npm run build): the CLI or the dashboard is not built");
  process.exit(1);
}

// Every package the CLI needs at run time, as npm resolved it here (paths of installed packages).
const listed = spawnSync("npm", ["ls", "--omit=dev", "--all", "--parseable", "-w", "@baton/cli"], {
  cwd: root,
  encoding: "utf8",
  maxBuffer: 64 * 1024 * 1024,
});
const paths = new Set(listed.stdout.split("\n").filter((path) => path.startsWith(root + sep)));
// The dashboard: the server serves its build, and nothing imports it.
paths.add(join(root, "packages", "ui"));
if (paths.size < 10) {
  console.error(`image-context: npm ls listed too little:\n${listed.stderr}`);
  process.exit(1);
}

/** Only what runs: a workspace package's manifest, build and bin; none of its sources and tests. */
const keepOfWorkspace = new Set(["package.json", "dist", "bin", "README.md", "LICENSE"]);
/** better-sqlite3's sources and build leftovers are most of it; its lib and the loaded module are all it needs. */
const keepOfSqlite = (path) =>
  [
    "package.json",
    "lib",
    "build",
    join("build", "Release"),
    join("build", "Release", "better_sqlite3.node"),
  ].includes(path) || path.startsWith("lib" + sep);

rmSync(out, { recursive: true, force: true });
for (const listedPath of paths) {
  // npm lists the workspace's packages by their links in node_modules/@baton.
  const path = listedPath.startsWith(join(root, "node_modules", "@baton") + sep)
    ? realpathSync(listedPath)
    : listedPath;
  const workspace = [...workspaces.keys()].find((dir) => path === dir || path.startsWith(dir + sep));
  const source = path;
  let target;
  let keep = () => true;
  if (workspace) {
    // A workspace package, or a dependency nested in its node_modules.
    target = join(out, "baton", "node_modules", workspaces.get(workspace), relative(workspace, path));
    if (path === workspace) keep = (rest) => keepOfWorkspace.has(rest.split(sep)[0]);
  } else {
    const inModules = relative(join(root, "node_modules"), path);
    target = join(out, "deps", "node_modules", inModules);
    if (basename(path) === "better-sqlite3") keep = keepOfSqlite;
  }
  mkdirSync(target, { recursive: true });
  cpSync(source, target, {
    recursive: true,
    dereference: true,
    // A nested node_modules' packages are listed (and copied) on their own when they are needed.
    filter: (from) => {
      const rest = relative(source, from);
      return (
        rest === "" ||
        (!rest.split(sep).includes("node_modules") && keep(rest) && !rest.endsWith(".tsbuildinfo"))
      );
    },
  });
}
// The server's home, owned by the image's user (a named volume starts as a copy of it).
mkdirSync(join(out, "home"), { recursive: true });
console.log(`image-context: ${paths.size} packages in ${out}`);
