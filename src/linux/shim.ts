// The Node side of the shim protocol (native/PROTOCOL.md): spawn polis-shim, write the plan on the
// sync socket, read its messages, answer PAUSEs, and turn a failure {step, errno} back into the
// config.json field the failing op came from.
import { spawn, type ChildProcess } from "node:child_process";
import { constants as osConstants } from "node:os";
import type { Socket } from "node:net";
import { getSystemErrorMap } from "node:util";
import { PolisError, type ErrorDetail } from "../errors.js";
import { shimPath } from "../paths.js";
import { debugEnabled, log } from "../log.js";
import { errnoName } from "./errno.js";
import { OpCode, Plan } from "./plan.js";

export { errnoName }; // callers that already import it from here

export type ShimMessageType = "pid" | "pause" | "ready" | "error" | "exited";

export interface ShimMessage {
  type: ShimMessageType;
  /** index of the op in the plan that sent it (-1: before the plan was read) */
  step: number;
  errno: number;
  /** PID: the child's pid in the caller's pid namespace; EXITED: the raw waitpid status */
  value: number;
  /** PAUSE: its label; ERROR: a short detail (path, value) */
  detail: string;
}

/** An fd of this process, or how spawn should make one. */
export type StdioEntry = number | "inherit" | "pipe" | "ignore";

export interface ShimOptions {
  /** the container's fds 0, 1, 2 (default: all "inherit") */
  stdio?: [StdioEntry, StdioEntry, StdioEntry];
  /** pass this process's fds 3 .. 3+preserveFds-1 to the container unchanged (--preserve-fds) */
  preserveFds?: number;
  /** the shim's environment (the container's comes from the EXEC op, not from here) */
  env?: NodeJS.ProcessEnv;
  /** the shim binary (default: shimPath()) */
  shim?: string;
}

export interface ShimExit {
  code: number | null;
  signal: string | null;
}

/** Message type codes (PROTOCOL.md "Messages"; native/src/shim.h `enum msg_type`). */
export enum MessageType {
  PID = 1,
  PAUSE = 2,
  READY = 3,
  ERROR = 4,
  EXITED = 5,
}

const TYPES: Record<MessageType, ShimMessageType> = {
  [MessageType.PID]: "pid",
  [MessageType.PAUSE]: "pause",
  [MessageType.READY]: "ready",
  [MessageType.ERROR]: "error",
  [MessageType.EXITED]: "exited",
};
/** type:u32 step:i32 errno:i32 value:i64 len:u32 (native/src/sync.c HEADER_LEN) */
export const MESSAGE_HEADER_LEN = 24;
const HEADER = MESSAGE_HEADER_LEN;

/** Parse every complete message at the start of buf; returns them and the unparsed rest. */
export function decodeMessages(buf: Buffer): { messages: ShimMessage[]; rest: Buffer } {
  const messages: ShimMessage[] = [];
  let off = 0;
  while (buf.length - off >= HEADER) {
    const len = buf.readUInt32LE(off + 20);
    if (buf.length - off < HEADER + len) break;
    const code = buf.readUInt32LE(off);
    messages.push({
      type: TYPES[code as MessageType] ?? ("error" as const),
      step: buf.readInt32LE(off + 4),
      errno: buf.readInt32LE(off + 8),
      value: Number(buf.readBigInt64LE(off + 12)),
      detail: buf.toString("utf8", off + HEADER, off + HEADER + len),
    });
    off += HEADER + len;
  }
  return { messages, rest: buf.subarray(off) };
}

/** A running polis-shim. One session per plan; messages are read in order with next(). */
export class ShimSession {
  readonly child: ChildProcess;
  /** empty until send() */
  plan: Plan = new Plan();
  /** the fd number the shim sees the sync socket as (3 + preserveFds) */
  readonly syncFd: number;
  private readonly sock: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: ShimMessage[] = [];
  private readonly waiters: { resolve(m: ShimMessage): void; reject(e: Error): void }[] = [];
  private ended = false;
  private spawnError: PolisError | undefined;
  private lastStep = -1;
  private exitInfo: ShimExit | undefined;
  private readonly exited: Promise<ShimExit>;
  /** --debug only: when the shim was started (performance.now()) */
  private startedAt: number | undefined;
  /** the CLONE op's mode: "detach", "wait", or undefined (a plan without CLONE) */
  private mode: string | undefined;
  private sent = false;

  private constructor(opts: ShimOptions, warmProcsFile?: string) {
    const preserve = opts.preserveFds ?? 0;
    if (!Number.isInteger(preserve) || preserve < 0) throw new PolisError(`invalid preserve-fds ${preserve}`);
    this.syncFd = 3 + preserve;
    const extra = Array.from({ length: preserve }, (_, i) => 3 + i);
    const bin = opts.shim ?? shimPath();
    const args = warmProcsFile ? [String(this.syncFd), warmProcsFile] : [String(this.syncFd)];
    // libuv makes 'pipe' stdio entries socketpairs with SOCK_CLOEXEC on our end, so this socket
    // cannot leak into anything else we spawn later.
    this.child = spawn(bin, args, {
      stdio: [...(opts.stdio ?? ["inherit", "inherit", "inherit"]), ...extra, "pipe"],
      env: opts.env ?? process.env,
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      this.child.once("error", (err) => {
        this.spawnError = new PolisError(`cannot run polis-shim ${bin}: ${err.message}`);
        this.finish();
        resolve({ code: null, signal: null });
      });
    });
    this.sock = this.child.stdio[this.syncFd] as Socket;
    this.sock.on("data", (chunk: Buffer) => this.onData(chunk));
    this.sock.on("end", () => this.finish());
    this.sock.on("close", () => this.finish());
    this.sock.on("error", () => this.finish()); // EPIPE/ECONNRESET: same as EOF for us
  }

  /** Spawn the shim and send it the plan. */
  static start(plan: Plan, opts: ShimOptions = {}): ShimSession {
    const s = new ShimSession(opts);
    s.send(plan);
    return s;
  }

  /**
   * Spawn the shim before the plan is known (create, right after validation): its start-up then
   * overlaps node's work, and until send() it keeps the kernel's cgroup-move lock warm by moving
   * itself into `warmProcsFile` (polis's own cgroup.procs; native/src/main.c warm_cgroup_moves),
   * so that its CGROUP_JOIN does not wait ~10 ms for an RCU grace period. close() without a
   * plan makes it exit without a word; the caller waits for that (waitExit) before it goes on.
   */
  static spawnEarly(opts: ShimOptions, warmProcsFile: string | undefined): ShimSession {
    return new ShimSession(opts, warmProcsFile);
  }

  /** Has send() been called? */
  get planSent(): boolean {
    return this.sent;
  }

  /** Send the plan (once). */
  send(plan: Plan): void {
    if (this.sent) throw new Error("internal error: a second plan for one polis-shim");
    this.sent = true;
    this.plan = plan;
    const clone = plan.ops.find((op) => op.code === OpCode.CLONE);
    this.mode = clone ? String(clone.args[4]) : undefined;
    if (debugEnabled()) this.traceStart();
    this.sock.write(plan.encode());
  }

  /** The next message. An ERROR rejects with the PolisError describeFailure() makes; the shim
   *  going away without a message rejects too, naming the last step it reported. */
  next(): Promise<ShimMessage> {
    const msg = this.queue.shift();
    if (msg) return msg.type === "error" ? Promise.reject(describeFailure(this.plan, msg)) : Promise.resolve(msg);
    if (this.ended) return this.endedError().then((e) => Promise.reject(e));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** next(), insisting on its type. */
  async expect(type: ShimMessageType): Promise<ShimMessage> {
    const msg = await this.next();
    if (msg.type !== type) {
      throw new PolisError(`polis-shim: expected ${type} but got ${msg.type} at step ${msg.step}${this.stepName(msg.step)}`);
    }
    return msg;
  }

  /** Read messages up to EXITED (foreground mode) and return the raw wait status of the child.
   *  PAUSEs on the way are resumed; an ERROR rejects. */
  async exitStatus(): Promise<number> {
    for (;;) {
      const msg = await this.next();
      if (msg.type === "exited") return msg.value;
      if (msg.type === "pause") this.resume();
    }
  }

  /** Consume every message in the background (resuming PAUSEs), for callers that only want the
   *  shim's exit: in wait mode the shim exits with the child's status (see PROTOCOL.md). */
  drain(): void {
    const loop = (): void => {
      this.next().then(
        (msg) => {
          if (msg.type === "pause") this.resume();
          if (msg.type !== "exited") loop();
        },
        () => undefined, // the error is in the shim's exit status
      );
    };
    loop();
  }

  /** Let a PAUSEd shim continue. */
  resume(): void {
    if (!this.sock.destroyed) this.sock.write("R");
  }

  /** Make a PAUSEd shim (and its child) exit 1; any other state: close() has the same effect. */
  abort(): void {
    if (!this.sock.destroyed) this.sock.end("A");
  }

  /** Drop our end of the sync socket and stop tracking the shim: after this nothing here keeps
   *  the event loop alive, and a shim or child still blocked on the socket sees EOF and exits. */
  close(): void {
    this.sock.destroy();
    this.release();
    this.finish();
  }

  /**
   * A shim that will get no plan (spawnEarly, then the create failed): drop our end, on which it
   * leaves without a word, and wait for it to be reaped (SIGKILL if it has not gone in 2 s).
   */
  async dismiss(): Promise<void> {
    this.sock.destroy();
    this.finish();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), 2000);
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }

  /** Keep the socket open but stop it (and the shim) from holding the event loop. */
  private release(): void {
    this.sock.unref();
    this.child.unref();
  }

  /**
   * Until the shim has been reaped. A detached shim exits right after reporting PID, but until
   * its parent (this process) reaps it, the kernel still charges it to the container's pids
   * cgroup: a `create` returning before that showed two tasks in a one-process container.
   */
  async reaped(): Promise<void> {
    this.child.ref(); // release() unref'd it: the exit event must keep this process alive
    await this.exited;
  }

  /** The shim process's own exit (in detach mode it exits right after reporting PID). */
  waitExit(): Promise<ShimExit> {
    return this.exited;
  }

  private onData(chunk: Buffer): void {
    const { messages, rest } = decodeMessages(this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk);
    this.buf = Buffer.from(rest);
    for (const m of messages) {
      this.lastStep = m.step;
      if (this.startedAt !== undefined) this.traceMessage(m);
      // A detached child now blocks on the exec fifo: it must not keep this process alive.
      if (m.type === "ready" && this.mode === "detach") this.release();
      const w = this.waiters.shift();
      if (!w) this.queue.push(m);
      else if (m.type === "error") w.reject(describeFailure(this.plan, m));
      else w.resolve(m);
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const waiters = this.waiters.splice(0);
    if (waiters.length)
      void this.endedError().then((e) => {
        for (const w of waiters) w.reject(e);
      });
  }

  private async endedError(): Promise<PolisError> {
    if (this.spawnError) return this.spawnError;
    // the socket usually closes just before the exit event: give it a moment, for a better message
    if (!this.exitInfo) await Promise.race([this.exited, new Promise((r) => setTimeout(r, 200).unref())]);
    const how = this.exitInfo
      ? this.exitInfo.signal
        ? ` (killed by ${this.exitInfo.signal})`
        : ` (exit status ${this.exitInfo.code})`
      : "";
    const where = this.lastStep < 0 ? "before reporting any step" : `after step ${this.lastStep}${this.stepName(this.lastStep)}`;
    return new PolisError(`polis-shim ended without a report${how}, ${where}`);
  }

  /** --debug: the plan the shim is about to run, one line per step with its config.json field. */
  private traceStart(): void {
    this.startedAt = performance.now();
    log.debug("polis-shim started", { pid: this.child.pid, steps: this.plan.ops.length });
    for (const [i, op] of this.plan.ops.entries())
      log.debug(`shim step ${i}: ${OpCode[op.code]}`, { field: op.field, what: op.what });
  }

  /** --debug: each report as it arrives, with the time since the shim was started. */
  private traceMessage(m: ShimMessage): void {
    const op = this.plan.ops[m.step];
    const ms = Number((performance.now() - this.startedAt!).toFixed(1));
    const fields: Record<string, unknown> = { step: m.step, field: op?.field, what: op?.what, ms };
    if (m.type === "pid" || m.type === "exited") fields.value = m.value;
    if (m.errno) fields.errno = errnoName(m.errno);
    if (m.detail) fields.detail = m.detail;
    log.debug(`shim reported ${m.type}`, fields);
  }

  private stepName(step: number): string {
    const op = this.plan.ops[step];
    return op ? ` (${op.field}: ${op.what})` : "";
  }
}

/** strerror-like text, lower-case: "no such file or directory". */
export function errnoText(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[1] ?? EXTRA_TEXT[errnoName(errno)] ?? `error ${errno}`;
}

// errnos a shim op can hit that libuv's table lacks
const EXTRA_TEXT: Record<string, string> = {
  ESRCH: "no such process",
  ECHILD: "no child processes",
  E2BIG: "argument list too long",
  EUSERS: "too many users",
  EDQUOT: "disk quota exceeded",
  ENOKEY: "required key not available",
  EOPNOTSUPP: "operation not supported",
};

/** A failure the shim reported; `report` is its raw ERROR message (step index, errno number). */
export class ShimError extends PolisError {
  readonly report: ShimMessage;
  constructor(message: string, detail: ErrorDetail, report: ShimMessage) {
    super(message, detail);
    this.report = report;
  }
}

/** "mounts[2]: mount proc on /proc: no such device (ENODEV)", with {field, step, errno}. */
export function describeFailure(plan: Plan, msg: ShimMessage): ShimError {
  const op = msg.step >= 0 ? plan.ops[msg.step] : undefined;
  const where = op ? `${op.field}: ${op.what}` : msg.step < 0 ? "polis-shim" : `polis-shim step ${msg.step}`;
  if (!msg.errno) return new ShimError(`${where}: ${msg.detail || "failed"}`, { field: op?.field, step: op?.what }, msg);
  const name = errnoName(msg.errno);
  // the shim's detail only helps when we cannot say ourselves what the op was
  const extra = op ? "" : `: ${msg.detail}`;
  return new ShimError(
    `${where}${extra}: ${errnoText(msg.errno)} (${name})`,
    { field: op?.field, step: op?.what, errno: name },
    msg,
  );
}

/** A raw waitpid status (EXITED.value) as exit code or signal, and the shell-style code. */
export function decodeWaitStatus(status: number): { code: number | null; signal: string | null; exitCode: number } {
  const sig = status & 0x7f;
  if (sig === 0) {
    const code = (status >> 8) & 0xff;
    return { code, signal: null, exitCode: code };
  }
  const name = Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] ?? `SIG${sig}`;
  return { code: null, signal: name, exitCode: 128 + sig };
}
