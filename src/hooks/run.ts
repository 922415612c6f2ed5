// OCI hooks: each one runs in order with exactly the argv and environment config.json gives, the
// container's state JSON on stdin, and an optional timeout. A failure names the hook by its
// config.json path (`hooks.prestart[0]`) so the user knows which entry to look at.
import { spawn, type ChildProcess } from "node:child_process";
import { PolisError } from "../errors.js";
import { debugEnabled, log } from "../log.js";
import type { Hook, HookName, State } from "../spec/types.js";

export interface RunHooksOptions {
  /**
   * Start the hook some other way (e.g. inside the container's namespaces through the shim for
   * createContainer/startContainer). Whatever it returns is waited on, fed the state on stdin if
   * it has one, and read on stdout/stderr if it has them.
   */
  spawn?: (hook: Hook) => ChildProcess;
  /** Log failures as warnings and go on with the next hook (the spec's rule for poststop). */
  warnOnly?: boolean;
  /** The working directory of hooks polis starts itself (runc: the bundle during create/run). */
  cwd?: string;
}

/** After the hook exits, wait this long at most for its pipes to close (a daemon it left may hold them). */
const PIPE_GRACE_MS = 200;
const OUTPUT_LIMIT = 64 * 1024;

export async function runHooks(
  kind: HookName,
  hooks: Hook[] | undefined,
  state: State,
  opts: RunHooksOptions = {},
): Promise<void> {
  if (!hooks) return;
  const input = JSON.stringify(state);
  for (let i = 0; i < hooks.length; i++) {
    const field = `hooks.${kind}[${i}]`;
    const started = performance.now();
    const traced = (outcome: string) =>
      log.debug(`hook ${outcome}`, { hook: field, path: hooks[i].path, ms: Number((performance.now() - started).toFixed(1)) });
    try {
      if (debugEnabled())
        log.debug("hook starting", {
          hook: field,
          path: hooks[i].path,
          args: (hooks[i].args ?? []).join(" "),
          cwd: opts.spawn ? "(in the container)" : (opts.cwd ?? process.cwd()),
        });
      await runHook(field, hooks[i], input, opts.spawn ?? ((h) => defaultSpawn(h, opts.cwd)));
      if (debugEnabled()) traced("done");
    } catch (e) {
      if (debugEnabled()) traced("failed");
      if (!opts.warnOnly) throw e;
      log.warn((e as Error).message);
    }
  }
}

/**
 * The hook's environment: exactly its `env` list when it has one (`[]` is empty); without one,
 * polis's own environment, as runc's hooks inherit runc's (Go's exec with a nil Env).
 */
export function hookEnv(env: string[] | undefined, inherited: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env === undefined) return inherited;
  const out: Record<string, string> = {};
  for (const kv of env ?? []) {
    const eq = kv.indexOf("=");
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function defaultSpawn(hook: Hook, cwd?: string): ChildProcess {
  const args = hook.args ?? [];
  return spawn(hook.path, args.slice(1), {
    argv0: args[0] ?? hook.path,
    cwd,
    env: hookEnv(hook.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

function runHook(field: string, hook: Hook, input: string, spawnHook: (hook: Hook) => ChildProcess): Promise<void> {
  const who = `${field} (${hook.path})`;
  return new Promise<void>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawnHook(hook);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      reject(new PolisError(`${who}: spawn: ${code ?? (e as Error).message}`, { field, step: "spawn hook", errno: code }));
      return;
    }
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;

    const finish = (err?: PolisError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (err) reject(err);
      else resolve();
    };
    const verdict = () => {
      if (timedOut) return finish(new PolisError(`${field}: timed out after ${hook.timeout}s`, { field, step: "run hook" }));
      if (!exit) return finish();
      if (exit.code === 0) return finish();
      const what = exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
      const output = (stderr.trim() || stdout.trim()).slice(0, OUTPUT_LIMIT);
      finish(new PolisError(`${who}: ${what}${output ? `: ${output}` : ""}`, { field, step: "run hook" }));
    };

    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (exit) return; // e.g. a kill() after exit
      finish(new PolisError(`${who}: spawn: ${e.code ?? e.message}`, { field, step: "spawn hook", errno: e.code }));
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      grace = setTimeout(verdict, PIPE_GRACE_MS);
    });
    child.on("close", verdict);

    if (hook.timeout !== undefined && hook.timeout > 0) {
      timer = setTimeout(() => {
        if (exit) return; // it finished; only its pipes are still open
        timedOut = true;
        child.kill("SIGKILL");
      }, hook.timeout * 1000);
    }
    if (child.stdin) {
      // A hook that never reads its stdin is fine: ignore EPIPE.
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
  });
}
