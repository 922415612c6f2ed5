// Hooks run as real processes: stdin, environment, argv and timeouts checked from their output.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import { runHooks } from "../../src/hooks/run.js";
import { configureLog } from "../../src/log.js";
import type { State } from "../../src/spec/types.js";

const dir = mkdtempSync(join(tmpdir(), "polis-hooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Node itself adds NODE_V8_COVERAGE to every child's environment while `npm test` measures coverage. */
const notCoverage = (l: string) => !l.startsWith("NODE_V8_COVERAGE=");

const state: State = {
  ociVersion: "1.3.0",
  id: "hook-test",
  status: "created",
  pid: 4242,
  bundle: "/b",
  annotations: { a: "1" },
};

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

async function failure(p: Promise<unknown>): Promise<PolisError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PolisError);
    return e as PolisError;
  }
  throw new Error("the hook did not fail");
}

describe("runHooks", () => {
  it("feeds the state JSON on stdin, with exactly the given env, args and argv0", async () => {
    const out = join(dir, "record");
    const path = script("record.sh", `cat > ${out}.stdin\nenv > ${out}.env\necho "$0|$*" > ${out}.argv`);
    await runHooks("prestart", [{ path, args: ["my-argv0", "one", "two words"], env: ["FOO=bar", "EMPTY=", "X=a=b"] }], state);
    expect(JSON.parse(readFileSync(`${out}.stdin`, "utf8"))).toEqual(state);
    const env = readFileSync(`${out}.env`, "utf8")
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("PWD=") && notCoverage(l));
    expect(env.sort()).toEqual(["EMPTY=", "FOO=bar", "X=a=b"]);
    // /bin/sh reports the script path as $0, so check argv0 through /proc instead (below)
    expect(readFileSync(`${out}.argv`, "utf8").trim()).toBe(`${path}|one two words`);
  });

  it("passes args[0] as the process's argv[0]", async () => {
    const out = join(dir, "argv0");
    // a binary (not a script) keeps argv[0] as given: busybox-like check through /proc/self/cmdline
    const path = "/bin/sh";
    await runHooks("createRuntime", [{ path, args: ["custom-zero", "-c", `tr '\\0' ' ' < /proc/$$/cmdline > ${out}`] }], state);
    expect(readFileSync(out, "utf8")).toMatch(/^custom-zero -c /);
  });

  it("an empty env means an empty environment", async () => {
    const out = join(dir, "noenv");
    const path = script("noenv.sh", `env > ${out}`);
    await runHooks("prestart", [{ path, env: [] }], state);
    // only what sh itself sets may appear
    const lines = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .filter((l) => l && !/^(PWD|SHLVL|_)=/.test(l) && notCoverage(l));
    expect(lines).toEqual([]);
  });

  it("an absent env inherits polis's environment, as runc's hooks inherit runc's", async () => {
    const out = join(dir, "inherit");
    const path = script("inherit.sh", `env > ${out}`);
    process.env.POLIS_HOOK_PROBE = "inherited value";
    try {
      await runHooks("prestart", [{ path }], state);
    } finally {
      delete process.env.POLIS_HOOK_PROBE;
    }
    expect(readFileSync(out, "utf8").split("\n")).toContain("POLIS_HOOK_PROBE=inherited value");
  });

  it("runs in opts.cwd (runc: the bundle)", async () => {
    const out = join(dir, "cwd");
    const path = script("cwd.sh", `pwd > ${out}`);
    await runHooks("prestart", [{ path }], state, { cwd: dir });
    expect(readFileSync(out, "utf8").trim()).toBe(dir);
  });

  it("uses opts.spawn to start the hook, and still feeds and judges it", async () => {
    const out = join(dir, "custom");
    const seen: string[] = [];
    const custom = (hook: { path: string }) => {
      seen.push(hook.path);
      return spawn("/bin/sh", ["-c", `cat > ${out}; exit 4`], { stdio: ["pipe", "pipe", "pipe"] });
    };
    const e = await failure(runHooks("createContainer", [{ path: "/in/container/hook" }], state, { spawn: custom }));
    expect(seen).toEqual(["/in/container/hook"]);
    expect(JSON.parse(readFileSync(out, "utf8")).id).toBe("hook-test");
    expect(e.message).toBe("hooks.createContainer[0] (/in/container/hook): exit status 4");
  });

  it("runs hooks in order and stops at the first failure, naming it by config.json path", async () => {
    const log = join(dir, "order");
    const ok = script("ok.sh", `echo ok >> ${log}`);
    const bad = script("bad.sh", `echo bad >> ${log}\necho "  it broke  " >&2\nexit 3`);
    const e = await failure(runHooks("createRuntime", [{ path: ok }, { path: bad }, { path: ok }], state));
    expect(e.message).toBe(`hooks.createRuntime[1] (${bad}): exit status 3: it broke`);
    expect(e.detail.field).toBe("hooks.createRuntime[1]");
    expect(readFileSync(log, "utf8")).toBe("ok\nbad\n");
  });

  it("reports stdout when stderr is empty, and death by signal", async () => {
    const quiet = script("quiet.sh", "echo only-stdout\nexit 1");
    expect((await failure(runHooks("prestart", [{ path: quiet }], state))).message).toBe(
      `hooks.prestart[0] (${quiet}): exit status 1: only-stdout`,
    );
    const killed = script("killed.sh", "kill -TERM $$");
    expect((await failure(runHooks("prestart", [{ path: killed }], state))).message).toBe(
      `hooks.prestart[0] (${killed}): killed by SIGTERM`,
    );
  });

  it("kills a hook that outlives its timeout", async () => {
    const pidFile = join(dir, "slow.pid");
    const slow = script("slow.sh", `echo $$ > ${pidFile}\nexec sleep 30`);
    const started = Date.now();
    const e = await failure(runHooks("prestart", [{ path: slow, timeout: 1 }], state));
    expect(e.message).toBe("hooks.prestart[0]: timed out after 1s");
    expect(e.detail.field).toBe("hooks.prestart[0]");
    expect(Date.now() - started).toBeLessThan(3000);
    const pid = readFileSync(pidFile, "utf8").trim();
    expect(existsSync(`/proc/${pid}`)).toBe(false); // killed and reaped
  });

  it("a hook that ignores stdin is fine, and a missing binary is a spawn error", async () => {
    const ran = join(dir, "ignores.ran");
    const ignores = script("ignores.sh", `echo ran > ${ran}; exit 0`);
    await runHooks("poststart", [{ path: ignores }], { ...state, annotations: { big: "x".repeat(1 << 20) } });
    expect(readFileSync(ran, "utf8")).toBe("ran\n"); // it ran, and the unread 1 MiB stdin (EPIPE) was no failure
    const e = await failure(runHooks("prestart", [{ path: join(dir, "does-not-exist") }], state));
    expect(e.message).toBe(`hooks.prestart[0] (${join(dir, "does-not-exist")}): spawn: ENOENT`);
    expect(e.detail.errno).toBe("ENOENT");
  });

  it("warnOnly (poststop) logs each failure and runs the rest", async () => {
    const out = join(dir, "poststop");
    const bad = script("pbad.sh", "echo nope >&2; exit 2");
    const ok = script("pok.sh", `echo ran > ${out}`);
    const warnings: string[] = [];
    configureLog({ format: "json", debug: false, stderr: (t) => warnings.push(t) });
    try {
      await runHooks("poststop", [{ path: bad }, { path: ok }], state, { warnOnly: true });
    } finally {
      configureLog({ format: "text", debug: false });
    }
    expect(readFileSync(out, "utf8")).toBe("ran\n");
    expect(warnings.map((w) => JSON.parse(w))).toMatchObject([
      { level: "warning", msg: `hooks.poststop[0] (${bad}): exit status 2: nope` },
    ]);
  });

  it("starts nothing for absent or empty hook lists", async () => {
    const started: string[] = [];
    const spy = (hook: { path: string }) => {
      started.push(hook.path);
      return spawn("/bin/true");
    };
    await expect(runHooks("prestart", undefined, state, { spawn: spy })).resolves.toBeUndefined();
    await expect(runHooks("prestart", [], state, { spawn: spy })).resolves.toBeUndefined();
    expect(started).toEqual([]);
    // the same spy does see a real hook: the check above could fail
    await runHooks("prestart", [{ path: "/bin/true" }], state, { spawn: spy });
    expect(started).toEqual(["/bin/true"]);
  });
});
