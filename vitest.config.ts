import { defineConfig } from "vitest/config";

/**
 * Tests that build for minutes (the install test compiles the native SQLite module; the image test
 * builds a container image): they run after the rest, so they never starve the browser and process
 * tests of the machine's CPU.
 */
const BUILDS = ["test/install.test.ts", "test/image.test.ts"];

export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"], externalConditions: ["source"] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "suite",
          include: [
            "packages/*/src/**/*.test.ts",
            "packages/*/test/**/*.test.ts",
            "test/**/*.test.ts",
            "examples/*/test/**/*.test.ts",
          ],
          exclude: ["**/node_modules/**", ...BUILDS],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: "builds", include: BUILDS, sequence: { groupOrder: 1 } } },
    ],
  },
});
