// Signal names and numbers as `polis kill` accepts them: "TERM", "SIGTERM", "sigterm", "15",
// "RTMIN+3". Numbers come from the running Node's os.constants.signals.
import { constants } from "node:os";
import { PolisError } from "../errors.js";

// glibc's SIGRTMIN is 34, not the kernel's 32: the C library keeps 32 and 33 for its threads,
// and every tool users know (kill(1), Go, runc) counts from 34.
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** The signal number for a name or number; SIGTERM when absent or empty. */
export function parseSignal(input?: string): number {
  if (input === undefined || input === "") return constants.signals.SIGTERM;
  const invalid = () => new PolisError(`invalid signal "${input}"`);
  if (/^\d+$/.test(input)) {
    const n = Number(input);
    if (n > SIGRTMAX) throw invalid();
    return n;
  }
  const name = input.toUpperCase().replace(/^SIG/, "");
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
    const delta = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === "-" ? -1 : 1);
    const n = base + delta;
    if (n < SIGRTMIN || n > SIGRTMAX) throw invalid();
    return n;
  }
  const n = (constants.signals as Record<string, number | undefined>)[`SIG${name}`];
  if (n === undefined) throw invalid();
  return n;
}

/**
 * What a foreground `run` or `exec` forwards to the container's process: every signal a process
 * can catch except SIGCHLD and SIGPIPE (those are polis's own), as runc does.
 */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTRAP",
  "SIGABRT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCONT",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/**
 * The forwarded signals whose default action ends a process: one of these that reaches a
 * foreground `run` before its container starts ends the run by it (src/container/run.ts; the
 * launcher's ending_signal in native/launcher/create.c is the same list).
 */
export const ENDING_SIGNALS: NodeJS.Signals[] = FORWARDED_SIGNALS.filter(
  (s) => !["SIGCONT", "SIGURG", "SIGWINCH", "SIGTSTP", "SIGTTIN", "SIGTTOU"].includes(s),
);
