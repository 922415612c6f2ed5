// What a terminal shows after some output, for tests of in-place progress: \x1b[nA moves the
// cursor up, \r to the line's start, \x1b[K clears the line, \x1b[J everything below.
export function screen(out: string): string[] {
  const lines: string[] = [];
  let y = 0;
  for (const tok of out.match(/\x1b\[\d*[AKJ]|\r|\n|[^\x1b\r\n]+/g) ?? []) {
    const up = /^\x1b\[(\d+)A$/.exec(tok);
    if (up) y -= Number(up[1]);
    else if (tok === "\x1b[K") lines[y] = "";
    else if (tok === "\x1b[J") lines.length = y;
    else if (tok === "\n") y++;
    else if (tok !== "\r") lines[y] = (lines[y] ?? "") + tok;
  }
  return lines;
}

/** Runs argv with stdin, stdout and stderr on a fresh pty (rows x cols); resolves to all it wrote and its exit code. */
export const PTY_HARNESS = `
import json, os, sys, fcntl, termios, struct, select, time
a = json.loads(sys.argv[1])
m, s = os.openpty()
fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack("HHHH", a["rows"], a["cols"], 0, 0))
pid = os.fork()
if pid == 0:
    os.setsid(); fcntl.ioctl(s, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2): os.dup2(s, fd)
    os.close(m); os.close(s)
    os.execv(a["argv"][0], a["argv"])
os.close(s)
out, st = b"", None
end = time.time() + a["timeout"]
while time.time() < end:
    if select.select([m], [], [], 0.05)[0]:
        try:
            chunk = os.read(m, 65536)
        except OSError:
            chunk = b""
        out += chunk
        if chunk: continue
    p, st = os.waitpid(pid, os.WNOHANG)
    if p != 0: break
    st = None
print(json.dumps({"out": out.decode(errors="replace"), "code": os.waitstatus_to_exitcode(st) if st is not None else None}))
`;
