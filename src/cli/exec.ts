// `polis exec [flags] <id> <command> [args...]` or `polis exec -p process.json <id>`: exits with
// the process's exit code, or 255 when exec itself fails (runc's code; clients rely on it).
import { PolisError } from "../errors.js";
import { CommandFailed, bool, list, num, pathOpt, str, type CliContext } from "./context.js";
import type { ExecOptions } from "../container/options.js";

export const EXEC_FAILED = 255;

export function execOptions(ctx: CliContext): ExecOptions {
  const [id, ...args] = ctx.args;
  const processFile = pathOpt(ctx, "process");
  if (!processFile && args.length === 0) throw new PolisError("process args cannot be empty");
  return {
    id,
    processFile,
    process: {
      args,
      env: list(ctx, "env"),
      cwd: str(ctx, "cwd") || undefined,
      user: parseUser(str(ctx, "user")),
      additionalGids: list(ctx, "additional-gids").map(parseGid),
      caps: list(ctx, "cap"),
      tty: bool(ctx, "tty"),
      noNewPrivs: bool(ctx, "no-new-privs"),
      apparmor: str(ctx, "apparmor") || undefined,
      processLabel: str(ctx, "process-label") || undefined,
    },
    detach: bool(ctx, "detach"),
    pidFile: pathOpt(ctx, "pid-file"),
    consoleSocket: pathOpt(ctx, "console-socket"),
    preserveFds: num(ctx, "preserve-fds"),
    subCgroups: list(ctx, "cgroup"),
    ignorePaused: bool(ctx, "ignore-paused"),
  };
}

/** --user <uid>[:<gid>], numeric only, as runc. */
export function parseUser(user: string | undefined): { uid: number; gid?: number } | undefined {
  if (user === undefined || user === "") return undefined;
  const [u, g] = user.split(":", 2);
  const uid = toId(u);
  if (uid === undefined) throw new PolisError(`--user: parsing ${u} as int for uid failed`);
  if (g === undefined) return { uid };
  const gid = toId(g);
  if (gid === undefined) throw new PolisError(`--user: parsing ${g} as int for gid failed`);
  return { uid, gid };
}

function parseGid(g: string): number {
  const gid = toId(g);
  if (gid === undefined) throw new PolisError(`--additional-gids: invalid gid ${JSON.stringify(g)}`);
  return gid;
}

function toId(s: string): number | undefined {
  return /^\d+$/.test(s) && Number(s) <= 0xffffffff ? Number(s) : undefined;
}

export async function run(ctx: CliContext): Promise<number> {
  try {
    const o = execOptions(ctx);
    const { execContainer } = await import("../container/exec.js");
    return await execContainer(ctx.global, o);
  } catch (e) {
    const detail = e instanceof PolisError ? e.detail : {};
    throw new CommandFailed(`exec failed: ${(e as Error).message}`, detail, EXEC_FAILED, e);
  }
}
