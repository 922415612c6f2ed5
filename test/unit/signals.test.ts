import { constants } from "node:os";
import { describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import { parseSignal } from "../../src/linux/signals.js";

describe("parseSignal", () => {
  it("defaults to SIGTERM", () => {
    expect(parseSignal()).toBe(15);
    expect(parseSignal("")).toBe(15);
  });

  it("accepts names with or without SIG, any case, and numbers", () => {
    expect(parseSignal("TERM")).toBe(constants.signals.SIGTERM);
    expect(parseSignal("SIGTERM")).toBe(15);
    expect(parseSignal("sigkill")).toBe(9);
    expect(parseSignal("kill")).toBe(9);
    expect(parseSignal("Hup")).toBe(1);
    expect(parseSignal("USR1")).toBe(constants.signals.SIGUSR1);
    expect(parseSignal("WINCH")).toBe(constants.signals.SIGWINCH);
    expect(parseSignal("15")).toBe(15);
    expect(parseSignal("9")).toBe(9);
    expect(parseSignal("0")).toBe(0);
  });

  it("knows the real-time signals as glibc numbers them", () => {
    expect(parseSignal("RTMIN")).toBe(34);
    expect(parseSignal("RTMIN+3")).toBe(37);
    expect(parseSignal("SIGRTMIN+3")).toBe(37);
    expect(parseSignal("RTMAX")).toBe(64);
    expect(parseSignal("RTMAX-2")).toBe(62);
    expect(parseSignal("64")).toBe(64);
  });

  it("rejects anything else, naming the input", () => {
    for (const bad of ["FOO", "SIG", "65", "-9", "RTMIN+31", "RTMAX-31", "9x", "TERM "]) {
      expect(() => parseSignal(bad)).toThrow(PolisError);
      expect(() => parseSignal(bad)).toThrow(`invalid signal "${bad}"`);
    }
  });
});
