import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkKeys, loadConfig, parseConfig } from "../../src/config/load.js";

const dir = mkdtempSync(join(tmpdir(), "polis-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("polis config file", () => {
  it("reads the sections of a YAML file named by --config", () => {
    const file = join(dir, "c.yaml");
    writeFileSync(file, "registries:\n  insecure: [127.0.0.1:5000]\nnetwork:\n  pool: 10.89.0.0/16\n");
    expect(loadConfig({ config: file }, {})).toEqual({
      file,
      sections: { registries: { insecure: ["127.0.0.1:5000"] }, network: { pool: "10.89.0.0/16" } },
    });
  });

  it("takes $POLIS_CONFIG when --config is absent, and --config over it", () => {
    const a = join(dir, "a.yaml");
    const b = join(dir, "b.yaml");
    writeFileSync(a, "monitor: {}\n");
    writeFileSync(b, "");
    expect(loadConfig({}, { POLIS_CONFIG: a }).file).toBe(a);
    expect(loadConfig({ config: b }, { POLIS_CONFIG: a })).toEqual({ file: b, sections: {} });
  });

  it("a missing explicit file is an error naming it", () => {
    expect(() => loadConfig({ config: join(dir, "nope.yaml") }, {})).toThrow(/config file .*nope\.yaml: .*ENOENT/);
  });

  it("an unknown key is an error naming the key and the file", () => {
    expect(() => parseConfig("registry:\n  a: 1\n", "/etc/x.yaml")).toThrow(
      'config file /etc/x.yaml: unknown key "registry" (known: registries, network, monitor)',
    );
    expect(() => checkKeys({ mirrors: [], insecur: [] }, ["mirrors", "insecure"], "registries", "/f")).toThrow(
      'config file /f: unknown key "registries.insecur"',
    );
  });

  it("bad YAML and a section that is not a mapping are one-line errors", () => {
    expect(() => parseConfig("network: [1, 2\n", "/f.yaml")).toThrow(/^config file \/f\.yaml: [^\n]+$/);
    expect(() => parseConfig("network: 3\n", "/f.yaml")).toThrow("config file /f.yaml: network must be a mapping");
  });
});
