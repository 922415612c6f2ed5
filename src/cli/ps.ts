// `polis ps [--format table|json] <id> [ps options]`: the host's ps(1) output (default `-ef`)
// filtered to the container's processes, or their pids as JSON.
import { execFileSync } from "node:child_process";
import { PolisError } from "../errors.js";
import { DEFAULT_PATH } from "../paths.js";
import { str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const format = str(ctx, "format") ?? "table";
  if (format !== "table" && format !== "json") throw new PolisError("invalid format option");
  const [id, ...psArgs] = ctx.args;
  const { containerPids } = await import("../container/ps.js");
  const pids = await containerPids(ctx.global, id);
  if (format === "json") {
    // runc encodes Go's nil slice: no processes print as null
    ctx.io.stdout((pids.length ? JSON.stringify(pids) : "null") + "\n");
    return;
  }
  let output: string;
  try {
    output = execFileSync("ps", psArgs.length ? psArgs : ["-ef"], {
      encoding: "utf8",
      env: { ...ctx.io.env, PATH: ctx.io.env.PATH || DEFAULT_PATH /* podman and conmon may call us with no PATH */ },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new PolisError(`ps: ${err.code ?? ""} ${String(err.stderr ?? err.message).trim()}`.replace(/ +/g, " "), {
      step: "run ps",
      errno: err.code,
    });
  }
  ctx.io.stdout(filterPs(output, pids));
}

/** The header line and the lines whose PID column is one of `pids`. */
export function filterPs(output: string, pids: number[]): string {
  const lines = output.split("\n");
  const header = lines[0] ?? "";
  const col = header.trim().split(/\s+/).indexOf("PID");
  if (col < 0) throw new PolisError("couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const kept = lines.slice(1).filter((l) => {
    const pid = Number(l.trim().split(/\s+/)[col]);
    return l.trim() !== "" && wanted.has(pid);
  });
  return [header, ...kept].map((l) => l + "\n").join("");
}
