/**
 * Lets the worker's event loop turn once. vitest's worker reports to the main process through
 * an RPC whose calls time out after 60 s (birpc's fixed limit, a timer in the worker). Answers
 * arrive as IPC messages, read only when the loop turns: a stretch of spawnSync calls longer
 * than 60 s (a few dozen node commands on a loaded 2-core machine) ends the whole run with
 * "[vitest-worker]: Timeout calling onTaskUpdate", although every test passed.
 */
export function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
