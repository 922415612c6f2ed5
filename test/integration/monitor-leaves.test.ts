// prom-client (and the config file's yaml parser) are leaves of the build (scripts/build.mjs):
// `polis monitor` loads them (yaml only when there is a config file), the runtime's hot commands
// never do. Checked by the modules node
// actually loaded on the Node path, dist/polis.mjs (a --require hook reports every file under
// dist/lib/ at exit).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/config/load.js";
import { runMonitored } from "../helpers/monitor.js";
import { POLIS_MJS, tempRoot } from "../helpers/polis.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-leaves-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

const hook = join(scratch, "loaded.cjs");
writeFileSync(
  hook,
  `const M = require("module");
const load = M._load;
const seen = new Set();
M._load = function (request, parent) {
  try { seen.add(M._resolveFilename(request, parent)); } catch {}
  return load.apply(this, arguments);
};
process.on("exit", () => require("fs").writeSync(2, "\\nLOADED " + [...seen].filter((f) => f.includes("/dist/lib/")).map((f) => f.split("/").pop()).join(" ") + "\\n"));
`,
);

/** The dist/lib leaves one polis command loaded. */
function leavesOf(args: string[]): string[] {
  const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: `--require ${hook}` };
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, [POLIS_MJS, "--root", root, ...args], { env, encoding: "utf8" });
  const line = /^LOADED ?(.*)$/m.exec(r.stderr);
  if (!line) throw new Error(`no report from polis ${args.join(" ")}: ${r.stderr}`);
  return line[1].split(" ").filter(Boolean);
}

describe("leaves of the build", () => {
  it("the hot commands load neither prom-client nor yaml; polis monitor does", () => {
    const c = runMonitored(root, "sleep 1000", ["--logs"]);
    try {
      for (const args of [["state", c.id], ["list"], ["kill", c.id, "CONT"], ["start", "nope"], ["delete", "nope"]]) {
        expect({ args, leaves: leavesOf(args) }).toEqual({ args, leaves: [] });
      }
      // the refusal comes after the config and the server module were loaded; the YAML parser
      // only when there is a config file to parse (src/config/load.ts)
      const listen = ["monitor", "--listen", "192.0.2.1:9323"];
      const config = join(scratch, "config.yaml");
      writeFileSync(config, "# nothing configured\n");
      expect(leavesOf(["--config", config, ...listen])).toEqual(expect.arrayContaining(["prom-client.cjs", "yaml.cjs"]));
      const bare = leavesOf(listen);
      expect(bare).toContain("prom-client.cjs");
      if (!existsSync(DEFAULT_CONFIG) && !process.env.POLIS_CONFIG) expect(bare).not.toContain("yaml.cjs");
    } finally {
      c.remove();
    }
  });
});
