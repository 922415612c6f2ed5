import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PolisError } from "../../src/errors.js";
import { ENDING_SIGNALS, FORWARDED_SIGNALS, parseSignal } from "../../src/linux/signals.js";
import { REPO } from "../helpers/rootfs.js";

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

describe("the signals a foreground run forwards, and those that end it before the start", () => {
  // The launcher keeps its own copies in C (native/launcher/create.c: FORWARDED and
  // ending_signal's exclusions); a run must behave the same on both paths.
  const source = readFileSync(join(REPO, "native", "launcher", "create.c"), "utf8");

  it("are the same lists in the launcher as in node", () => {
    const forwarded = /static const int FORWARDED\[\] = \{([^}]*)\}/.exec(source)?.[1];
    expect(forwarded, "FORWARDED[] in create.c").toBeDefined();
    const cList = forwarded!.split(",").map((s) => s.trim());
    expect(cList).toEqual(FORWARDED_SIGNALS);
    const body = /static int ending_signal\(void\) \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? "";
    const excluded = [...(/bool ends = ([^;]*);/.exec(body)?.[1] ?? "").matchAll(/sig != (SIG\w+)/g)].map((m) => m[1]);
    expect(excluded.length, "ending_signal's exclusions").toBeGreaterThan(0);
    expect(FORWARDED_SIGNALS.filter((s) => !excluded.includes(s))).toEqual(ENDING_SIGNALS);
  });
});
