// A foreground `polis run` with process.terminal and no --console-socket: the shim receives the
// pty master itself and proxies it (CONSOLE_PAIR). Driven from a real outer pty (python3's
// os.openpty, so the test can set and change its window and look at its mode) and from `script`.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirsNamed, POLIS, polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
const work = mkdtempSync(join(tmpdir(), "polis-tty-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

// Runs argv on the slave of a fresh pty sized rows x cols, as a session leader with it as the
// controlling tty. When `marker` appears in the output: record whether the tty is raw, resize it
// to `resize`, then type `input` (or, with `kill`, SIGKILL polis instead). Prints {out, code, raw, restored} as JSON.
const HARNESS = `
import json, os, sys, fcntl, termios, struct, select, time
a = json.loads(sys.argv[1])
m, s = os.openpty()
def size(r, c): fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
size(*a["size"])
pid = os.fork()
if pid == 0:
    os.setsid(); fcntl.ioctl(s, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2): os.dup2(s, fd)
    os.close(m); os.close(s)
    os.execv(a["argv"][0], a["argv"])
out, raw, st, done = b"", None, None, False
end = time.time() + 25
while time.time() < end and not done:
    if select.select([m], [], [], 0.05)[0]:
        out += os.read(m, 4096)
    if raw is None and a["marker"].encode() in out:
        raw = not (termios.tcgetattr(s)[3] & termios.ICANON)
        if a.get("kill"):
            os.kill(pid, 9)
            continue
        size(*a["resize"])
        time.sleep(0.3)  # let the SIGWINCH land before the input
        os.write(m, a["input"].encode())
    p, st = os.waitpid(pid, os.WNOHANG)
    done = p != 0
while done and select.select([m], [], [], 0.2)[0]:
    out += os.read(m, 4096)
restored = bool(termios.tcgetattr(s)[3] & termios.ICANON)
print(json.dumps({"out": out.decode(errors="replace"), "code": os.waitstatus_to_exitcode(st) if done else None, "raw": raw, "restored": restored}))
`;

interface PtyResult {
  out: string;
  code: number | null;
  raw: boolean | null;
  restored: boolean;
}

function underPty(
  args: string[],
  o: { size: [number, number]; resize: [number, number]; marker: string; input: string; kill?: boolean },
): PtyResult {
  const script = join(work, "harness.py");
  if (!existsSync(script)) writeFileSync(script, HARNESS);
  const argv = [POLIS, "--root", root, ...args];
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const out = execFileSync("python3", [script, JSON.stringify({ ...o, argv })], { env, timeout: 40_000, encoding: "utf8" });
  return JSON.parse(out);
}

function ttyBundle(script: string, consoleSize?: { height: number; width: number }): string {
  return busyboxBundle((c) => {
    c.process.terminal = true;
    c.process.args = ["sh", "-c", script];
    if (consoleSize) c.process.consoleSize = consoleSize;
  });
}

/** Nothing of the container is left: no state, no cgroup, no state dir. */
function expectGone(id: string): void {
  expect(polis(root, ["state", id]).code).toBe(1);
  expect(cgroupDirsNamed(id)).toEqual([]);
  expect(existsSync(join(root, "containers", id))).toBe(false);
}

describe("run with a terminal in the foreground", () => {
  it("proxies a real tty: raw mode, window size and SIGWINCH, input, exit code", () => {
    const bundle = ttyBundle('tty; stty size; ls /proc/$$/fd; echo READY; read x; stty size; echo "got:$x"; exit 3', {
      height: 40,
      width: 120,
    });
    const id = uniqueId("tty");
    try {
      const r = underPty(["run", "--bundle", bundle, id], {
        size: [25, 90],
        resize: [33, 77],
        marker: "READY",
        input: "hello\r",
      });
      const lines = r.out.split("\r\n");
      expect(lines, JSON.stringify(r)).toContain("/dev/pts/0");
      // the caller's window wins over process.consoleSize, as with runc
      expect(lines[lines.indexOf("/dev/pts/0") + 1]).toBe("25 90");
      // the proxy's socketpair, signalfd and the master never reach the container
      expect(lines[lines.indexOf("/dev/pts/0") + 2]).toBe("0  1  2");
      expect(r.raw).toBe(true);
      // SIGWINCH on the outer tty resized the container's
      expect(lines[lines.indexOf("got:hello") - 1]).toBe("33 77");
      expect(lines).toContain("got:hello");
      expect(r.code).toBe(3);
      expect(r.restored).toBe(true);
      expectGone(id);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("under script(1) with piped input: consoleSize applies to a 0x0 outer window", () => {
    const bundle = ttyBundle(`tty; stty size; read x; echo "got:$x"; exit 7`, { height: 40, width: 120 });
    const id = uniqueId("script");
    try {
      const cmd = [POLIS, "--root", root, "run", "--bundle", bundle, id].join(" ");
      const r = spawnSync("script", ["-qfec", cmd, "/dev/null"], { input: "typed\n", encoding: "utf8", timeout: 30_000 });
      const lines = r.stdout.split(/\r?\n/).map((l) => l.replace(/\r$/, ""));
      expect(lines, JSON.stringify(r)).toContain("/dev/pts/0");
      expect(lines[lines.indexOf("/dev/pts/0") + 1]).toBe("40 120");
      expect(lines).toContain("got:typed");
      expect(r.status).toBe(7);
      expectGone(id);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("works without any tty on the caller's side (pipe in, file out)", () => {
    const bundle = ttyBundle(`test -t 0 && echo in-tty; read x; echo "got:$x"; exit 4`);
    const id = uniqueId("notty");
    try {
      const r = polis(root, ["run", "--bundle", bundle, id], { input: "piped\n" });
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("in-tty\r\n");
      expect(r.stdout).toContain("got:piped\r\n");
      expect(r.code).toBe(4);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("a proxied terminal whose polis dies", () => {
  it("takes the container with it, though the tty's hangup signals the shim too", () => {
    // polis is the session leader of the harness's tty: its death hangs up the foreground group
    const bundle = ttyBundle("echo READY; sleep 1000");
    const id = uniqueId("orphan");
    try {
      const r = underPty(["run", "--bundle", bundle, id], {
        size: [25, 80],
        resize: [25, 80],
        marker: "READY",
        input: "",
        kill: true,
      });
      expect(r.code).toBe(-9);
      const st = JSON.parse(polis(root, ["state", id]).stdout);
      expect(st.status).toBe("stopped");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("a detached terminal needs a console socket", () => {
  for (const cmd of [["create"], ["run", "--detach"]]) {
    it(`${cmd.join(" ")} fails clearly and leaves nothing`, () => {
      const bundle = ttyBundle("sleep 100");
      const id = uniqueId("notsock");
      try {
        const r = polis(root, [...cmd, "--bundle", bundle, id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("process.terminal: cannot allocate a tty when detached without --console-socket");
        expectGone(id);
      } finally {
        polis(root, ["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    });
  }
});
