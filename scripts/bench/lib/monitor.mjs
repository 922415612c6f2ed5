// `polis monitor` for the benches that read its memory (node-rss.mjs, monitor-rss.mjs).
import { spawn } from "node:child_process";

/**
 * Runs `polis monitor` of `root` on a free port, waits until it listens and has taken its first
 * sample, calls `fn(child, url)`, and stops it (by its pid) whatever `fn` did.
 */
export async function withMonitor(polis, root, env, fn) {
  const child = spawn(polis, ["--root", root, "monitor", "--listen", "127.0.0.1:0", "--interval", "1h"], {
    env,
    stdio: ["ignore", "pipe", "ignore"],
  });
  try {
    const url = await new Promise((res, rej) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /listening on (\S+)/.exec(out);
        if (m) res(m[1].replace(/\/$/, ""));
      });
      child.on("exit", (code) => rej(new Error(`monitor exited ${code}`)));
    });
    // the first sample is taken right after it listens: wait for the monitor to go idle
    await new Promise((r) => setTimeout(r, 300));
    return await fn(child, url);
  } finally {
    child.kill();
    await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
  }
}
