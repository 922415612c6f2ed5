// `polis pull [--platform os/arch[/variant]] [--all-platforms] [--tls-verify=false] [--creds U:P] [-q] REF`
import { bool, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const { withStore, registries } = await import("../image/api.js");
  const { pull, mb } = await import("../image/pull.js");
  const { parsePlatform } = await import("../image/manifest.js");
  const { parseCreds } = await import("../image/credentials.js");
  const quiet = bool(ctx, "quiet");
  const platform = str(ctx, "platform");
  const creds = str(ctx, "creds");
  const tty = !quiet && process.stderr.isTTY === true;
  const progress = tty ? ttyProgress(mb) : undefined;
  const registriesConf = await registries(ctx.global, ctx.io.env);
  const result = await withStore(ctx.global, (store) =>
    pull(ctx.global.root, store, {
      reference: ctx.args[0],
      platform: platform ? parsePlatform(platform) : undefined,
      allPlatforms: bool(ctx, "all-platforms"),
      tlsVerify: ctx.options["tls-verify"] !== false,
      credentials: creds !== undefined ? parseCreds(creds) : undefined,
      registries: registriesConf,
      env: ctx.io.env,
      progress: progress?.update,
      say: quiet ? undefined : (line) => (progress ? progress.line(line) : ctx.io.stderr(`${line}\n`)),
    }),
  );
  progress?.done();
  if (!quiet) ctx.io.stderr(`Pulled ${result.name}\n`);
  ctx.io.stdout(`${result.digest}\n`);
}

/** One status line rewritten in place: bytes of the blobs in flight and the rate, as podman shows them. */
function ttyProgress(mb: (n: number) => string) {
  const blobs = new Map<string, { have: number; total: number }>();
  const start = Date.now();
  let last = 0;
  const write = (s: string) => process.stderr.write(s);
  const status = () => {
    let have = 0;
    let total = 0;
    for (const b of blobs.values()) {
      have += b.have;
      total += b.total;
    }
    const rate = have / Math.max(0.001, (Date.now() - start) / 1000);
    return `Copying ${blobs.size} blob(s): ${mb(have)} / ${mb(total)} (${mb(rate)}/s)`;
  };
  return {
    update(digest: string, have: number, total: number) {
      blobs.set(digest, { have, total });
      const now = Date.now();
      if (now - last < 100 && have < total) return;
      last = now;
      write(`\r\x1b[K${status()}`);
    },
    line(text: string) {
      write(`\r\x1b[K${text}\n`);
    },
    done() {
      if (blobs.size) write(`\r\x1b[K${status()}\n`);
    },
  };
}
