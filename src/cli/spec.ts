// `polis spec [--bundle DIR] [--rootless]`: write a starter config.json (tab-indented, like runc's).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PolisError } from "../errors.js";
import { absPath, bool, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { defaultSpec } = await import("../spec/default.js");
  const spec = await defaultSpec({ rootless: bool(ctx, "rootless") });
  const bundle = str(ctx, "bundle");
  const file = join(bundle ? absPath(ctx, bundle) : ctx.io.cwd(), "config.json");
  try {
    // "wx": never overwrite a config.json the user may have edited.
    writeFileSync(file, JSON.stringify(spec, null, "\t"), { flag: "wx", mode: 0o666 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new PolisError("File config.json exists. Remove it first", { errno: code });
    throw new PolisError(`write ${file}: ${code ?? (e as Error).message}`, { step: "write config.json", errno: code });
  }
}
