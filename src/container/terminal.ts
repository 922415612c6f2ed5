// runc's rules for process.terminal and --console-socket, checked before anything is made: a
// detached process with a terminal needs a console socket to hand its pty master to, and a console
// socket is only for a process that has a terminal. create/run also refuse a socket in the
// foreground; exec may hand a foreground pty over (runc refuses that; it is harmless). The texts
// are runc's for each command (clients match them).
import { PolisError, fieldError } from "../errors.js";

export function checkTerminal(
  terminal: boolean,
  consoleSocket: string | undefined,
  detach: boolean,
  command: "create" | "exec",
): void {
  const exec = command === "exec";
  if (terminal && !consoleSocket && detach) {
    if (exec) throw new PolisError("cannot allocate tty if runc will detach without setting console socket");
    throw fieldError("process.terminal", "cannot allocate a tty when detached without --console-socket");
  }
  if (consoleSocket && (!terminal || (!exec && !detach))) {
    if (exec) throw new PolisError("cannot use console socket if runc will not allocate tty");
    throw new PolisError(
      "--console-socket: cannot use a console socket unless the container detaches and process.terminal is true",
    );
  }
}
