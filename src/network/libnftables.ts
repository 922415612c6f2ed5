// nft commands run inside polis through libnftables (the library the `nft` binary is a thin
// shell around, from the same nftables package), bound with koffi on first use: never at import.
//
// Why not exec `nft`: a table swap deletes the old rules, and the kernel frees deleted objects
// only after an RCU grace period; whoever closes a netfilter netlink socket while such a free is
// pending waits for it (nf_tables' NETLINK_URELEASE handler flushes the destroy work). An `nft`
// process closes its socket right after the commit, so every swap waited ~10-20 ms here on top
// of the exec. In-process, the socket stays open until polis exits and the grace period runs
// while polis does its remaining work. Measured here: a swap 19 ms by exec, ~1 ms in-process;
// koffi and the library load once in ~8 ms.
import { createRequire } from "node:module";

export interface NftOutcome {
  ok: boolean;
  /** stdout of the command (a listing), "" for changes. */
  output: string;
  /** The error text nft would print on stderr. */
  error: string;
}

type Runner = (commands: string) => NftOutcome;

let runner: Runner | null | undefined;

/**
 * Runs nft commands (the text of an `nft -f` file: one transaction) in this process; undefined
 * when libnftables cannot be loaded here (the caller execs `nft` then).
 */
export function nftInProcess(commands: string): NftOutcome | undefined {
  if (runner === undefined) runner = loadRunner();
  return runner ? runner(commands) : undefined;
}

/**
 * Loads the library ahead of use at the next turn of the event loop: `run --network` calls this
 * before the create, so that the load happens while node waits for the shim to clone the init.
 */
export function preloadNft(): void {
  setImmediate(() => {
    if (runner === undefined) runner = loadRunner();
  });
}

function loadRunner(): Runner | null {
  if (process.env.POLIS_NFT_EXEC === "1") return null; // the `nft` binary, for comparison (scripts/bench)
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    const lib = koffi.load("libnftables.so.1");
    const ctxNew = lib.func("void *nft_ctx_new(uint32_t flags)");
    const bufferOutput = lib.func("int nft_ctx_buffer_output(void *ctx)");
    const bufferError = lib.func("int nft_ctx_buffer_error(void *ctx)");
    const run = lib.func("int nft_run_cmd_from_buffer(void *ctx, const char *buf)");
    const output = lib.func("const char *nft_ctx_get_output_buffer(void *ctx)");
    const error = lib.func("const char *nft_ctx_get_error_buffer(void *ctx)");
    const ctx = ctxNew(0); // NFT_CTX_DEFAULT, as the nft binary
    if (!ctx || bufferOutput(ctx) !== 0 || bufferError(ctx) !== 0) return null;
    // Each get_*_buffer call hands over what was written since the previous one.
    return (commands) => {
      const rc = run(ctx, commands) as number;
      return { ok: rc === 0, output: (output(ctx) as string | null) ?? "", error: (error(ctx) as string | null) ?? "" };
    };
  } catch {
    return null;
  }
}
