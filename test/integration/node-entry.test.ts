// The Node path's entry as built (scripts/build.mjs): the launcher hands calls to node with
// dist/polis-entry.cjs (a CommonJS file, not the .mjs), the bundles are the CommonJS wrapper function
// the entry compiles as it is, this node accepts the V8 code caches the build made, and the entry
// picks bundle and cache by the command's words; pull and monitor, which run a bundle of their own
// (dist/polis-<command>.cjs), answer every kind of call exactly as polis.cjs does.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OciLayout, push, tarOf } from "../helpers/oci-layout.js";
import { POLIS, POLIS_MJS } from "../helpers/polis.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { baseRootfs, REPO } from "../helpers/rootfs.js";

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

  it("the bundles are the CommonJS wrapper function, and this node accepts every code cache made for them", () => {
    for (const name of ["polis.cjs", "polis-pull.cjs", "polis-monitor.cjs"]) {
      const source = readFileSync(join(DIST, name), "utf8");
      expect(source.startsWith("(function (exports, require, module, __filename, __dirname) {"), name).toBe(true);
    }
    // in a plain node (V8 rejects a cache made under other flags, and vitest's workers may have some)
    const check = `const { Script } = require("node:vm"); const { readFileSync } = require("node:fs");
      for (const [file, cache] of JSON.parse(process.argv[1])) {
        const s = new Script(readFileSync(file, "utf8"), { filename: file, cachedData: readFileSync(cache) });
        console.log(cache.split("/").pop(), s.cachedDataRejected ? "rejected" : "accepted");
      }`;
    const full = join(DIST, "polis.cjs");
    const pull = join(DIST, "polis-pull.cjs");
    const caches = [...["hot", "all", "net"].map((set) => [full, `${full}.${set}.cache`]), [pull, `${pull}.cache`]];
    const r = spawnSync(process.execPath, ["-e", check, JSON.stringify(caches)], { env: env(), encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      "polis.cjs.hot.cache accepted\npolis.cjs.all.cache accepted\npolis.cjs.net.cache accepted\npolis-pull.cjs.cache accepted\n",
    );
    // the monitor's V8 flags would reject any cache: it has none (scripts/build.mjs)
    expect(existsSync(join(DIST, "polis-monitor.cjs.cache"))).toBe(false);
  });

  it("pull's and monitor's own bundles hold far less than polis.cjs", () => {
    const size = (name: string) => statSync(join(DIST, name)).size;
    expect(size("polis-pull.cjs")).toBeLessThan(size("polis.cjs") / 2);
    expect(size("polis-monitor.cjs")).toBeLessThan(size("polis.cjs") / 2);
  });

  it("picks each command's bundle and cache by its arguments: pull's and monitor's own, the small cache for state", () => {
    if (spawnSync("strace", ["-V"]).status !== 0) {
      console.log("skipped: no strace on this host (it shows which bundle and cache files the entry opens)");
      return;
    }
    const root = join(dir, "root");
    /** The dist/ files the call opened, in order: through the launcher (its V8 flags) unless `entry`. */
    const opened = (args: string[], { entry = true } = {}) => {
      const cmd = entry ? [process.execPath, join(DIST, "polis-entry.cjs")] : [POLIS];
      const r = spawnSync("strace", ["-f", "-e", "trace=openat", "-qq", ...cmd, "--root", root, ...args], {
        env: env(),
        encoding: "utf8",
      });
      return [...r.stderr.matchAll(/\/(polis[\w.-]*\.c(?:js|ache))", O_RDONLY[^=]*= \d/g)]
        .map((m) => m[1])
        .filter((f) => f !== "polis-entry.cjs");
    };
    // nothing listens on port 1: the pull fails at once, after the entry chose its bundle
    expect(opened(["pull", "--tls-verify=false", "127.0.0.1:1/x:1"])).toEqual(["polis-pull.cjs.cache", "polis-pull.cjs"]);
    // a word match first, then the bundle itself says whose arguments these are: only time is lost
    expect(opened(["state", "pull"])).toEqual(["polis-pull.cjs.cache", "polis-pull.cjs", "polis.cjs.hot.cache", "polis.cjs"]);
    expect(opened(["state", "x"])).toEqual(["polis.cjs.hot.cache", "polis.cjs"]);
    expect(opened(["create", "--bundle", join(dir, "missing"), "x"])).toEqual(["polis.cjs.all.cache", "polis.cjs"]);
    // the monitor through the launcher, under its V8 flags: its bundle, no cache (a bad flag value ends it)
    expect(opened(["monitor", "--interval", "bogus"], { entry: false })).toEqual(["polis-monitor.cjs"]);
    expect(opened(["help", "monitor"], { entry: false })).toEqual(["polis-monitor.cjs"]);
  });
});

/**
 * pull's and monitor's own bundles behave as polis.cjs does: the same arguments give the same
 * stdout, stderr and exit code through the entry (which runs their bundle) and through polis.cjs
 * run directly (the entry's load, without the choice). Each pair runs on a fresh root at the same
 * path; log times and --debug's phase times are blanked.
 */
describe("pull's and monitor's own bundles", () => {
  let reg: TestRegistry;
  let image = "";
  const work = join(dir, "bundles");
  const root = join(work, "root");
  const full = join(work, "full.cjs");
  const logFile = join(work, "log.json");
  const config = join(work, "config.yaml");
  beforeAll(async () => {
    mkdirSync(work, { recursive: true });
    writeFileSync(
      full,
      `"use strict";
const { readFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { Script } = require("node:vm");
const file = ${JSON.stringify(join(DIST, "polis.cjs"))};
const bundle = { exports: {}, filename: file };
new Script(readFileSync(file, "utf8"), { filename: file }).runInThisContext()(bundle.exports, createRequire(file), bundle, file, ${JSON.stringify(DIST)});
bundle.exports.runCli();
`,
    );
    writeFileSync(config, "monitor:\n  bogus: 1\n");
    reg = await startRegistry();
    const layout = new OciLayout(join(work, "oci"));
    const layer = layout.layer(tarOf(baseRootfs(), join(work, "base.tar")), "gzip");
    layout.image({ layers: [layer], config: { Cmd: ["sh"] }, tag: "1" });
    image = `${reg.host}/bundles/busybox:1`;
    push(layout.dir, "1", `docker://${image}`);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const blank = (text: string) =>
    text
      .replace(/time="[^"]*"/g, 'time="T"')
      .replace(/"time":"[^"]*"/g, '"time":"T"')
      .replace(/\bms=[\d.]+/g, "ms=M") // --debug's phase times
      .replace(/"ms":[\d.]+/g, '"ms":M');
  /** One call, on a fresh root: what a client sees (and the --log file's lines). */
  const call = (script: string, args: string[]) => {
    rmSync(root, { recursive: true, force: true });
    rmSync(logFile, { force: true });
    const r = spawnSync(process.execPath, [script, ...args], { env: env(), encoding: "utf8", timeout: 60_000 });
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
    return { status: r.status, stdout: blank(r.stdout), stderr: blank(r.stderr), log: blank(log) };
  };

  const cases: [string, () => string[]][] = [
    ["pull --help", () => ["pull", "--help"]],
    ["help pull", () => ["help", "pull"]],
    ["monitor --help", () => ["monitor", "--help"]],
    ["help monitor", () => ["--root", root, "help", "monitor"]],
    ["pull without an image", () => ["pull"]],
    ["pull with a bad flag", () => ["pull", "--bogus", "x"]],
    ["pull with a bad flag, --debug", () => ["--debug", "pull", "--bogus", "x"]],
    ["pull with a bad flag, logged as JSON", () => ["--log", logFile, "--log-format", "json", "pull", "-bogus", "x"]],
    ["pull with a bad --log-format", () => ["--log-format", "yaml", "pull", "x"]],
    ["monitor with a bad flag", () => ["monitor", "--bogus"]],
    ["monitor with an argument", () => ["monitor", "extra"]],
    ["monitor with a bad interval", () => ["--root", root, "monitor", "--interval", "bogus"]],
    ["monitor with a bad config", () => ["--root", root, "--config", config, "monitor"]],
    ["pull with a missing config", () => ["--root", root, "--config", join(work, "missing.yaml"), "pull", image]],
    ["pull of a missing image", () => ["--root", root, "pull", "--tls-verify=false", `${reg.host}/bundles/missing:1`]],
    [
      "pull of a missing tag, --debug",
      () => ["--debug", "--root", root, "pull", "--tls-verify=false", `${reg.host}/bundles/busybox:2`],
    ],
    ["pull from a closed port", () => ["--root", root, "pull", "--tls-verify=false", "127.0.0.1:1/x:1"]],
    ["a pull", () => ["--root", root, "pull", "--tls-verify=false", image]],
    ["a quiet pull, logged", () => ["--root", root, "--log", logFile, "pull", "-q", "--tls-verify=false", image]],
    ["state of a container named pull (polis.cjs's)", () => ["--root", root, "state", "pull"]],
  ];
  it.each(cases)("%s: the same output and exit code as polis.cjs", (_name, args) => {
    const viaEntry = call(join(DIST, "polis-entry.cjs"), args());
    const viaFull = call(full, args());
    expect(viaEntry).toEqual(viaFull);
  });

  it("the comparison can fail: a successful pull is not a failed one", () => {
    const ok = call(join(DIST, "polis-entry.cjs"), ["--root", root, "pull", "-q", "--tls-verify=false", image]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const missing = call(full, ["--root", root, "pull", "-q", "--tls-verify=false", `${reg.host}/bundles/missing:1`]);
    expect(missing.status).toBe(1);
    expect(missing).not.toEqual(ok);
  });
});
