import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

// One id per test run, in every name the run makes (cgroups, temp dirs, container ids), so the
// leak check at the end (test/global-setup.ts) looks only at what THIS run created, never at
// another run on the same machine. scripts/test.mjs sets these; a bare `vitest` run gets its own.
if (!process.env.POLIS_TEST_RUN) {
  process.env.POLIS_TEST_RUN = `r${randomBytes(4).toString("hex")}`;
  process.env.POLIS_TEST_RUN_DIR = join("/tmp", `polis-${process.env.POLIS_TEST_RUN}`);
  process.env.POLIS_TEST_OWNS_RUN_DIR = "1"; // removed by the global teardown
}
const runDir = process.env.POLIS_TEST_RUN_DIR ?? join("/tmp", `polis-${process.env.POLIS_TEST_RUN}`);
process.env.POLIS_TEST_RUN_DIR = runDir;
process.env.POLIS_TEST_SKIP_LOG ??= join(runDir, "skipped.txt");
// Temp dirs of this run (bundles, roots, rootfs cache, podman and containerd dirs) live in here.
process.env.TMPDIR = join(runDir, "t"); // short: podman refuses a runroot over 50 characters
mkdirSync(process.env.TMPDIR, { recursive: true });

const root = process.getuid?.() === 0;

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    // Integration suites run real containers: without root they are skipped as a whole (one line
    // from the global setup), and the unit tests still run.
    exclude: root ? configDefaults.exclude : [...configDefaults.exclude, "test/integration/**"],
    globalSetup: ["test/global-setup.ts"],
    setupFiles: ["test/setup/turn-event-loop.ts"],
    pool: "forks",
    // Integration tests start real containers; two cores, so keep the parallelism modest.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // A test is a check, not a timer: tests that take 10-15 s on an idle machine (several
    // containers, a real Prometheus or browser) can take three times that on a loaded 2-core CI
    // machine. Speed is measured in scripts/bench/, never here.
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
