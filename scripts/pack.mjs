// npm run pack: writes the tarball of every published package into dist-packages/, ready for
// `npm install dist-packages/*.tgz` in a project of one's own (or `npm publish <tarball>`).
// Packs what is built (npm ci builds; after editing sources run `npm run build` first).
//
// Each package is staged in a temporary folder first, so the published package.json can differ
// from the repository's without touching the working tree:
// - the `source` export condition (the repository's tests and type check read src/) is dropped,
//   so every export resolves to dist for Node, TypeScript and bundlers alike;
// - scripts and devDependencies are dropped (nothing runs when a user installs a Baton package);
// - the server's tarball carries the built dashboard (packages/ui/dist) as `dashboard/`.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = resolve(root, process.argv[2] ?? "dist-packages");
/** Published packages, in dependency order. The dashboard (packages/ui) ships inside the server. */
const PACKAGES = ["core", "client", "sdk", "server", "worker", "grpc", "cli"];

const fail = (message) => {
  console.error(`npm run pack: ${message}`);
  process.exit(1);
};
const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

const manifests = PACKAGES.map((dir) => ({
  dir,
  pkg: readJson(join(root, "packages", dir, "package.json")),
}));
const version = manifests[0].pkg.version;
for (const { dir, pkg } of manifests) {
  if (pkg.version !== version)
    fail(`${pkg.name} is at ${pkg.version}, the others at ${version}: versions move in lockstep`);
  for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
    if (name.startsWith("@baton/") && range !== version) {
      fail(
        `${pkg.name} depends on ${name}@${range}; Baton packages depend on each other at exactly ${version}`,
      );
    }
  }
  if (!existsSync(join(root, "packages", dir, "dist", "index.js"))) {
    fail(`packages/${dir}/dist is missing: run 'npm run build' first`);
  }
}
const dashboard = join(root, "packages", "ui", "dist");
if (!existsSync(join(dashboard, "index.html")))
  fail("packages/ui/dist is missing: run 'npm run build' first");

/** Exports as published: the `source` condition removed at every level. */
function withoutSource(value) {
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "source")
      .map(([key, inner]) => [key, withoutSource(inner)]),
  );
}

const npm = (args, cwd) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), "baton-pack-"));
try {
  for (const { dir, pkg } of manifests) {
    const source = join(root, "packages", dir);
    const staged = join(stage, dir);
    // The files npm itself would pack (package.json's `files`, README, package.json).
    const [listing] = JSON.parse(npm(["pack", "--dry-run", "--json", "--ignore-scripts"], source));
    for (const { path } of listing.files) {
      mkdirSync(dirname(join(staged, path)), { recursive: true });
      cpSync(join(source, path), join(staged, path));
    }
    const published = { ...pkg, exports: withoutSource(pkg.exports) };
    delete published.scripts;
    delete published.devDependencies;
    if (dir === "server") {
      // Without its source maps: they are most of its size and name files a user does not have.
      cpSync(dashboard, join(staged, "dashboard"), {
        recursive: true,
        filter: (file) => !file.endsWith(".map"),
      });
      published.files = [...published.files, "dashboard"];
    }
    writeFileSync(join(staged, "package.json"), `${JSON.stringify(published, null, 2)}\n`);
    const [packed] = JSON.parse(
      npm(["pack", "--json", "--ignore-scripts", "--pack-destination", out], staged),
    );
    console.log(`${packed.filename}  ${packed.entryCount} files, ${Math.round(packed.size / 1024)} kB`);
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
console.log(`\nInstall in a project of your own with:\n  npm install ${join(out, "*.tgz")}`);
