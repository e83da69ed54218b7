import { defineConfig } from "vitest/config";

/**
 * Tests that take the machine for minutes (the install test compiles the native SQLite module; the
 * image test builds a container image; the HAProxy test runs three servers, a worker and a serve
 * process): they run after the rest, so they never starve the browser and process tests of CPU.
 */
const HEAVY = ["test/install.test.ts", "test/image.test.ts", "test/haproxy.test.ts"];

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
          exclude: ["**/node_modules/**", ...HEAVY],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: "heavy", include: HEAVY, sequence: { groupOrder: 1 } } },
    ],
  },
});
