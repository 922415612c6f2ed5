// The Node path's entry as built (scripts/build.mjs): the launcher hands calls to node with
// dist/polis-entry.cjs (a CommonJS file, not the .mjs), the bundle is the CommonJS wrapper function
// the entry compiles as it is, this node accepts the V8 code caches the build made, and the entry
// picks them by the command's words.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, POLIS_MJS } from "../helpers/polis.js";
import { REPO } from "../helpers/rootfs.js";

const DIST = join(REPO, "dist");
const dir = mkdtempSync(join(tmpdir(), "polis-node-entry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = () => {
  const e: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "" };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
};

describe("the node entry", () => {
  it("is what the launcher execs: dist/polis-entry.cjs, with the caller's arguments after it", () => {
    // POLIS_NODE: a node that writes down its arguments before it runs them.
    const argvFile = join(dir, "argv");
    const fakeNode = join(dir, "node");
    writeFileSync(fakeNode, `#!/bin/sh\nprintf '%s\\n' "$@" > ${argvFile}\nexec ${process.execPath} "$@"\n`);
    chmodSync(fakeNode, 0o755);
    const r = spawnSync(POLIS, ["--version"], { env: { ...env(), POLIS_NODE: fakeNode }, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^polis version \S+\ncommit: \S+\nspec: /);
    const argv = readFileSync(argvFile, "utf8").trimEnd().split("\n");
    expect(argv).toEqual([realpathSync(join(DIST, "polis-entry.cjs")), "--version"]);
  });

  it("dist/polis.mjs, for callers that run it directly, gives the same answer", () => {
    const viaMjs = spawnSync(process.execPath, [POLIS_MJS, "--version"], { env: env(), encoding: "utf8" });
    const viaCjs = spawnSync(process.execPath, [join(DIST, "polis-entry.cjs"), "--version"], { env: env(), encoding: "utf8" });
    expect(viaMjs.status).toBe(0);
    expect(viaMjs.stdout).toBe(viaCjs.stdout);
    expect(viaCjs.stdout).toMatch(/^polis version /);
  });

  it("the bundle is the CommonJS wrapper function, and this node accepts every code cache made for it", () => {
    const file = join(DIST, "polis.cjs");
    const source = readFileSync(file, "utf8");
    expect(source.startsWith("(function (exports, require, module, __filename, __dirname) {")).toBe(true);
    // in a plain node (V8 rejects a cache made under other flags, and vitest's workers may have some)
    const check = `const { Script } = require("node:vm"); const { readFileSync } = require("node:fs");
      const file = process.argv[1]; const source = readFileSync(file, "utf8");
      for (const set of ["hot", "all", "net", "pull"]) {
        const s = new Script(source, { filename: file, cachedData: readFileSync(file + "." + set + ".cache") });
        console.log(set, s.cachedDataRejected ? "rejected" : "accepted");
      }`;
    const r = spawnSync(process.execPath, ["-e", check, file], { env: env(), encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hot accepted\nall accepted\nnet accepted\npull accepted\n");
  });

  it("picks each command's cache by its arguments: pull's own for pull, the small one for state", () => {
    if (spawnSync("strace", ["-V"]).status !== 0) {
      console.log("skipped: no strace on this host (it shows which cache file the entry opens)");
      return;
    }
    const root = join(dir, "root");
    const opened = (args: string[]) => {
      const r = spawnSync(
        "strace",
        ["-f", "-e", "trace=openat", "-qq", process.execPath, join(DIST, "polis-entry.cjs"), "--root", root, ...args],
        {
          env: env(),
          encoding: "utf8",
        },
      );
      return [...r.stderr.matchAll(/polis\.cjs\.(\w+)\.cache/g)].map((m) => m[1]);
    };
    // nothing listens on port 1: the pull fails at once, after the entry chose its cache
    expect(opened(["pull", "--tls-verify=false", "127.0.0.1:1/x:1"])).toEqual(["pull"]);
    expect(opened(["state", "pull"])).toEqual(["pull"]); // a word match: only time is lost, never behaviour
    expect(opened(["state", "x"])).toEqual(["hot"]);
    expect(opened(["create", "--bundle", join(dir, "missing"), "pull"])).toEqual(["all"]);
  });
});
