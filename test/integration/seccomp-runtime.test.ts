// linux.seccomp end to end: `polis run` compiles the profile, the shim loads it in the container's
// process (before the capabilities drop, or last with no_new_privs), and what busybox sees inside
// is the profile's doing. A seccomp agent (python, which can receive fds) gets the notify fd and
// the container's state over linux.seccomp.listenerPath, and answers the notified syscalls.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/containers.js";
import { cgroupDirsNamed, polis, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle, REPO } from "../helpers/rootfs.js";

type Config = Record<string, any>;
type Rule = { names: string[]; action: string; errnoRet?: number; args?: unknown[] };

const DOCKER_LIKE = JSON.parse(readFileSync(join(REPO, "test/fixtures/seccomp-docker-like.json"), "utf8"));
const MKDIR = ["mkdir", "mkdirat"];

/** The docker-like profile with mkdir/mkdirat moved from the allow list to `rule`. */
function dockerWith(rule: Omit<Rule, "names">): Config {
  const syscalls = DOCKER_LIKE.syscalls.map((r: Rule) => ({ ...r, names: r.names.filter((n) => !MKDIR.includes(n)) }));
  return { ...DOCKER_LIKE, syscalls: [...syscalls, { names: MKDIR, ...rule }] };
}

let root: string;
let dir: string;

beforeAll(() => {
  root = tempRoot();
  dir = mkdtempSync(join(tmpdir(), "polis-seccomp-rt-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const status = (out: string, key: string) => out.match(new RegExp(`^${key}:\\s*(\\S+)`, "m"))?.[1];

describe("seccomp in the container", () => {
  it("blocked syscalls return the configured errno; the same script without a profile succeeds", () => {
    const script =
      "mkdir /tmp/made; echo mkdir=$?; test -d /tmp/made && echo exists; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";
    const r = runScript(root, script, (c) => {
      c.root.readonly = false;
      c.linux.seccomp = dockerWith({ action: "SCMP_ACT_ERRNO", errnoRet: 38 });
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("mkdir=1");
    expect(r.stdout).not.toContain("exists");
    expect(r.stderr).toContain("Function not implemented");
    expect(status(r.stdout, "Seccomp")).toBe("2"); // SECCOMP_MODE_FILTER
    // control: no profile, same script
    const ok = runScript(root, script, (c) => {
      c.root.readonly = false;
    });
    expect(ok.stdout, ok.stderr).toContain("mkdir=0");
    expect(ok.stdout).toContain("exists");
    expect(status(ok.stdout, "Seccomp")).toBe("0");
  });

  it("loads the filter before dropping to a user without CAP_SYS_ADMIN when no_new_privs is off", () => {
    const r = runScript(
      root,
      "mkdir /tmp/x; echo mkdir=$?; id -u; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status",
      (c) => {
        c.root.readonly = false;
        c.process.noNewPrivileges = false;
        c.process.user = { uid: 1000, gid: 1000 };
        c.linux.seccomp = dockerWith({ action: "SCMP_ACT_ERRNO" }); // EPERM, runc's default
      },
    );
    expect(r.stderr).not.toContain("polis:");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("mkdir=1");
    expect(r.stdout.split("\n")).toContain("1000");
    expect(r.stderr).toContain("Operation not permitted");
    expect(status(r.stdout, "Seccomp")).toBe("2");
    expect(status(r.stdout, "NoNewPrivs")).toBe("0");
    expect(status(r.stdout, "CapEff")).toBe("0000000000000000");
  });

  it("argument filters select: personality(PER_LINUX32) allowed, with ADDR_NO_RANDOMIZE denied", () => {
    const r = runScript(root, "linux32 uname -m; linux32 -R true; echo r=$?", (c) => {
      c.linux.seccomp = DOCKER_LIKE;
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toContain("i686");
    expect(r.stdout).toContain("r=1");
    expect(r.stderr).toContain("Operation not permitted");
    // control: without the profile both work
    const ok = runScript(root, "linux32 -R true; echo r=$?", () => {});
    expect(ok.stdout).toContain("r=0");
  });

  it("SCMP_ACT_KILL_PROCESS kills the process: polis run exits 128+SIGSYS", () => {
    const id = uniqueId("sckill");
    const bundle = busyboxBundle((c) => {
      c.root.readonly = false;
      c.process.args = ["mkdir", "/tmp/never"];
      c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: MKDIR, action: "SCMP_ACT_KILL_PROCESS" }] };
    });
    try {
      const r = polis(root, ["run", "--bundle", bundle, id]);
      expect(r.code).toBe(159);
      expect(existsSync(join(bundle, "rootfs/tmp/never"))).toBe(false);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("a profile libseccomp rejects fails create naming the field, leaving nothing behind", () => {
    const id = uniqueId("scbad");
    const bundle = busyboxBundle((c) => {
      c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_S390X"] };
    });
    try {
      const r = polis(root, ["create", "--bundle", bundle, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("linux.seccomp.architectures[0]");
      expect(polis(root, ["state", id]).code).not.toBe(0);
      expect(cgroupDirsNamed(id)).toEqual([]);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

// A minimal seccomp agent: accept one connection, take the state and the notify fd, record them,
// then answer every notification with success (val 0) without running the syscall.
const AGENT = `
import json, os, select, socket, struct, sys, fcntl
path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
rec = {"raw": msg.decode(), "nfds": len(fds), "notifs": []}
def save():
    with open(out + ".tmp", "w") as f: json.dump(rec, f)
    os.rename(out + ".tmp", out)
state = json.loads(msg)
rec["state"] = state
with open("/proc/%d/status" % state["pid"]) as f:
    rec["nspid"] = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
rec["fdlink"] = os.readlink("/proc/self/fd/%d" % fds[0])
save()
RECV, SEND = 0xC0502100, 0xC0182101  # SECCOMP_IOCTL_NOTIF_RECV / _SEND
p = select.poll()
p.register(fds[0], select.POLLIN)
while True:
    ev = p.poll(20000)
    if not ev or ev[0][1] & (select.POLLHUP | select.POLLERR):
        break
    buf = bytearray(80)
    try:
        fcntl.ioctl(fds[0], RECV, buf, True)
    except OSError:
        break
    nid, pid, _flags, nr = struct.unpack_from("=QIIi", buf, 0)
    rec["notifs"].append({"pid": pid, "nr": nr})
    resp = bytearray(struct.pack("=QqiI", nid, 0, 0, 0))
    try:
        fcntl.ioctl(fds[0], SEND, resp, True)
    except OSError as e:
        rec["send_error"] = e.errno
    save()
rec["done"] = True
save()
`;

describe("SCMP_ACT_NOTIFY: the seccomp agent", () => {
  let agent: ChildProcess | undefined;
  afterAll(() => {
    agent?.kill("SIGKILL");
  });

  async function startAgent(name: string): Promise<{ sock: string; out: string; proc: ChildProcess }> {
    const script = join(dir, "agent.py");
    writeFileSync(script, AGENT);
    const sock = join(dir, `${name}.sock`);
    const out = join(dir, `${name}.json`);
    const proc = spawn("python3", [script, sock, out], { stdio: ["ignore", "ignore", "inherit"] });
    agent = proc;
    await waitFor(() => existsSync(sock));
    return { sock, out, proc };
  }

  for (const nnp of [true, false]) {
    it(`gets the notify fd and the container's state, and answers mkdir (noNewPrivileges ${nnp})`, async () => {
      const { sock, out, proc } = await startAgent(`agent-${nnp}`);
      const id = uniqueId("scnotify");
      const bundle = busyboxBundle((c) => {
        c.root.readonly = false;
        c.process.noNewPrivileges = nnp;
        c.process.args = [
          "sh",
          "-c",
          "mkdir /tmp/made && echo made; test -d /tmp/made && echo exists || echo absent; rmdir /tmp 2>/dev/null; echo end",
        ];
        c.linux.seccomp = {
          defaultAction: "SCMP_ACT_ALLOW",
          listenerPath: sock,
          listenerMetadata: "h12-meta",
          syscalls: [{ names: MKDIR, action: "SCMP_ACT_NOTIFY" }],
        };
      });
      try {
        const r = polis(root, ["run", "--bundle", bundle, id]);
        expect(r.stderr).toBe("");
        expect(r.code, r.stderr).toBe(0);
        // the agent said "success" without making the directory
        expect(r.stdout.split("\n")).toEqual(["made", "absent", "end", ""]);
        await waitFor(() => existsSync(out) && JSON.parse(readFileSync(out, "utf8")).done === true, 25_000);
        const rec = JSON.parse(readFileSync(out, "utf8"));
        expect(rec.nfds).toBe(1);
        expect(rec.fdlink).toBe("anon_inode:seccomp notify");
        const s = rec.state;
        expect(s.ociVersion).toMatch(/^1\./);
        expect(s.fds).toEqual(["seccompFd"]);
        expect(s.metadata).toBe("h12-meta");
        expect(s.state.id).toBe(id);
        expect(s.state.bundle).toBe(bundle);
        expect(s.state.pid).toBe(s.pid);
        // the pid is the container's init as the runtime sees it: pid 1 in its own namespace
        expect(rec.nspid).toEqual([String(s.pid), "1"]);
        expect(rec.notifs.length).toBeGreaterThanOrEqual(1);
        expect(rec.send_error).toBeUndefined();
      } finally {
        proc.kill("SIGKILL");
        polis(root, ["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    });
  }

  it("an unreachable listenerPath fails create naming the field and the errno, leaving nothing behind", () => {
    const id = uniqueId("scnolisten");
    const sock = join(dir, "nobody-listens.sock");
    const bundle = busyboxBundle((c) => {
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        listenerPath: sock,
        syscalls: [{ names: MKDIR, action: "SCMP_ACT_NOTIFY" }],
      };
    });
    try {
      const r = polis(root, ["create", "--bundle", bundle, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("linux.seccomp.listenerPath");
      expect(r.stderr).toContain("ENOENT");
      expect(polis(root, ["state", id]).code).not.toBe(0);
      expect(cgroupDirsNamed(id)).toEqual([]);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});
