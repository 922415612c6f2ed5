// runc's process.terminal / --console-socket rules, with each command's own runc text.
import { describe, expect, it } from "vitest";
import { checkTerminal } from "../../src/container/terminal.js";

describe("checkTerminal", () => {
  it("a detached process with a terminal needs a console socket", () => {
    expect(() => checkTerminal(true, undefined, true, "create")).toThrow(
      "process.terminal: cannot allocate a tty when detached without --console-socket",
    );
    expect(() => checkTerminal(true, undefined, true, "exec")).toThrow(
      "cannot allocate tty if runc will detach without setting console socket",
    );
    for (const command of ["create", "exec"] as const) {
      expect(() => checkTerminal(true, "/s.sock", true, command)).not.toThrow();
      expect(() => checkTerminal(false, undefined, true, command)).not.toThrow();
      expect(() => checkTerminal(true, undefined, false, command)).not.toThrow(); // foreground: the shim proxies the pty
    }
  });

  it("a console socket needs a terminal; create also needs a detached container, exec does not", () => {
    expect(() => checkTerminal(false, "/s.sock", true, "create")).toThrow(
      "--console-socket: cannot use a console socket unless the container detaches and process.terminal is true",
    );
    expect(() => checkTerminal(true, "/s.sock", false, "create")).toThrow("--console-socket: cannot use a console socket");
    expect(() => checkTerminal(false, "/s.sock", false, "exec")).toThrow(
      "cannot use console socket if runc will not allocate tty",
    );
    expect(() => checkTerminal(true, "/s.sock", false, "exec")).not.toThrow();
  });
});
