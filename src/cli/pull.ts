// `polis pull [--platform os/arch[/variant]] [--all-platforms] [--tls-verify=false] [--creds U:P] [-q] REF`
import type { Store } from "../state/store.js";
import { phase } from "../timing.js";
import { bool, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { registries } = await import("../image/api.js");
  const { Store } = await import("../state/store.js");
  const { pull, mb } = await import("../image/pull.js");
  const { parsePlatform } = await import("../image/manifest.js");
  const { parseCreds } = await import("../image/credentials.js");
  phase("image module load");
  const quiet = bool(ctx, "quiet");
  const platform = str(ctx, "platform");
  const creds = str(ctx, "creds");
  const tty = !quiet && process.stderr.isTTY === true;
  const progress = tty
    ? new (await import("./pull-progress.js")).PullProgress(
        (t) => process.stderr.write(t),
        mb,
        () => process.stderr.columns,
      )
    : undefined;
  const registriesConf = await registries(ctx.global, ctx.io.env);
  phase("registries config");
  let store: Store | undefined;
  const openStore = () => {
    store = Store.open(ctx.global.root);
    phase("state open");
    return store;
  };
  const result = await pull(ctx.global.root, openStore, {
    reference: ctx.args[0],
    platform: platform ? parsePlatform(platform) : undefined,
    allPlatforms: bool(ctx, "all-platforms"),
    tlsVerify: ctx.options["tls-verify"] !== false,
    credentials: creds !== undefined ? parseCreds(creds) : undefined,
    registries: registriesConf,
    env: ctx.io.env,
    progress: progress?.update,
    say: quiet ? undefined : (line) => (progress ? progress.line(line) : ctx.io.stderr(`${line}\n`)),
  }).finally(() => store?.close());
  progress?.done();
  if (!quiet) ctx.io.stderr(`Pulled ${result.name}\n`);
  ctx.io.stdout(`${result.digest}\n`);
}
