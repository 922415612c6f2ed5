// A synchronous sleep: every polis command is a short-lived synchronous process, and the few
// waits it has (cgroup freezer states, EBUSY rmdir, a busy state database, the exec fifo) are
// a few milliseconds each.
let cell: Int32Array | undefined;

export function sleepMs(ms: number): void {
  cell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(cell, 0, 0, ms);
}
