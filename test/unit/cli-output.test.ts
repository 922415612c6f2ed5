// What the CLI prints and how it turns flags into library options, without the library.
import { describe, expect, it } from "vitest";
import { parseArgv } from "../../src/cli/argv.js";
import type { CliContext } from "../../src/cli/context.js";
import { parseDuration } from "../../src/cli/events.js";
import { execOptions, parseUser } from "../../src/cli/exec.js";
import { createOptions } from "../../src/cli/create.js";
import { jsonList, quietList, tableList, tabwriter } from "../../src/cli/list.js";
import { filterPs } from "../../src/cli/ps.js";
import { parseBytes, resourcesFromFlags } from "../../src/cli/update.js";
import type { ListEntry } from "../../src/container/options.js";

function ctxFor(argv: string[], cwd = "/work/dir"): CliContext {
  const p = parseArgv(argv);
  if (p.kind !== "command") throw new Error("not a command");
  return {
    global: { root: "/r", logFormat: "text", debug: false, systemdCgroup: false },
    options: p.options.values,
    given: p.options.given,
    args: p.args,
    io: { stdout: () => {}, stderr: () => {}, env: {}, cwd: () => cwd },
  };
}

const entries: ListEntry[] = [
  {
    id: "a",
    pid: 7467,
    status: "running",
    bundle: "/tmp/rcbundle.X5Ks",
    created: "2026-11-28T08:23:09.299964297Z",
    owner: "root",
  },
  {
    id: "ctr-one",
    pid: 7453,
    status: "created",
    bundle: "/tmp/rcbundle.X5Ks",
    created: "2026-11-28T08:23:09.243487311Z",
    owner: "root",
  },
];

describe("list output (compared with runc 1.1.5's on the same containers)", () => {
  it("table", () => {
    expect(tableList(entries)).toBe(
      "ID          PID         STATUS      BUNDLE               CREATED                          OWNER\n" +
        "a           7467        running     /tmp/rcbundle.X5Ks   2026-11-28T08:23:09.299964297Z   root\n" +
        "ctr-one     7453        created     /tmp/rcbundle.X5Ks   2026-11-28T08:23:09.243487311Z   root\n",
    );
    expect(tableList([])).toBe("ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
    expect(
      tabwriter([
        ["a-very-long-identifier", "x"],
        ["b", "y"],
      ]),
    ).toBe("a-very-long-identifier   x\nb                        y\n");
  });

  it("json and quiet", () => {
    expect(jsonList([])).toBe("null\n");
    const rows = JSON.parse(jsonList([{ ...entries[0], annotations: { k: "v" } }, entries[1]]));
    expect(Object.keys(rows[0])).toEqual([
      "ociVersion",
      "id",
      "pid",
      "status",
      "bundle",
      "rootfs",
      "created",
      "owner",
      "annotations",
    ]);
    expect(rows[0]).toMatchObject({ id: "a", pid: 7467, rootfs: "/tmp/rcbundle.X5Ks/rootfs", annotations: { k: "v" } });
    expect("annotations" in rows[1]).toBe(false);
    expect(quietList(entries)).toBe("a\nctr-one\n");
  });
});

describe("create/run options", () => {
  it("resolves relative paths against the caller's cwd; the bundle defaults to it", () => {
    expect(createOptions(ctxFor(["create", "-b", "bun", "--pid-file", "p.pid", "--console-socket", "../s.sock", "id"]))).toEqual({
      id: "id",
      bundle: "/work/dir/bun",
      pidFile: "/work/dir/p.pid",
      consoleSocket: "/work/s.sock",
      noPivot: false,
      noNewKeyring: false,
      preserveFds: 0,
    });
    expect(createOptions(ctxFor(["create", "id"]))).toMatchObject({
      bundle: "/work/dir",
      pidFile: undefined,
      consoleSocket: undefined,
    });
  });
});

describe("exec options", () => {
  it("maps runc's flags", () => {
    const o = execOptions(
      ctxFor([
        "exec",
        "-t",
        "-d",
        "--pid-file",
        "e.pid",
        "-e",
        "A=1",
        "-u",
        "65534:100",
        "--cwd",
        "/tmp",
        "-g",
        "5",
        "--cap",
        "CAP_KILL",
        "id",
        "sh",
        "-c",
        "echo",
      ]),
    );
    expect(o).toMatchObject({
      id: "id",
      processFile: undefined,
      detach: true,
      pidFile: "/work/dir/e.pid",
      process: {
        args: ["sh", "-c", "echo"],
        env: ["A=1"],
        user: { uid: 65534, gid: 100 },
        cwd: "/tmp",
        additionalGids: [5],
        caps: ["CAP_KILL"],
        tty: true,
      },
    });
    expect(execOptions(ctxFor(["exec", "-p", "proc.json", "id"]))).toMatchObject({
      processFile: "/work/dir/proc.json",
      process: { args: [] },
    });
  });

  it("needs a command unless -p is given; --user is numeric", () => {
    expect(() => execOptions(ctxFor(["exec", "id"]))).toThrow("process args cannot be empty");
    expect(parseUser("0")).toEqual({ uid: 0 });
    expect(parseUser(undefined)).toBeUndefined();
    expect(() => parseUser("root")).toThrow("parsing root as int for uid failed");
    expect(() => parseUser("1:x")).toThrow("parsing x as int for gid failed");
  });
});

describe("update flags", () => {
  it("only what was given, with runc's units", () => {
    expect(resourcesFromFlags(ctxFor(["update", "id"]))).toEqual({});
    expect(
      resourcesFromFlags(
        ctxFor([
          "update",
          "--memory",
          "64m",
          "--memory-swap",
          "-1",
          "--pids-limit",
          "20",
          "--cpu-quota",
          "-1",
          "--cpu-period",
          "100000",
          "--cpuset-cpus",
          "0-1",
          "--blkio-weight",
          "300",
          "id",
        ]),
      ),
    ).toEqual({
      memory: { limit: 67108864, swap: -1 },
      pids: { limit: 20 },
      cpu: { quota: -1, period: 100000, cpus: "0-1" },
      blockIO: { weight: 300 },
    });
    expect(() => resourcesFromFlags(ctxFor(["update", "--cpu-period", "-5", "id"]))).toThrow(
      'invalid value for cpu-period: "-5"',
    );
    expect(() => resourcesFromFlags(ctxFor(["update", "--memory", "lots", "id"]))).toThrow("invalid size");
  });

  it("parseBytes", () => {
    expect(parseBytes("memory", "67108864")).toBe(67108864);
    expect(parseBytes("memory", "64M")).toBe(64 << 20);
    expect(parseBytes("memory", "1g")).toBe(1 << 30);
    expect(parseBytes("memory", "512KiB")).toBe(512 << 10);
    expect(parseBytes("memory", "1.5k")).toBe(1536);
  });
});

describe("events interval", () => {
  it("parses Go durations", () => {
    expect(parseDuration("5s")).toBe(5000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("0.5s")).toBe(500);
    expect(parseDuration("1500\u00b5s")).toBe(1.5); // Go's micro sign, as "us"
    expect(parseDuration("1500us")).toBe(1.5);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("3")).toBeUndefined();
    expect(parseDuration("5x")).toBeUndefined();
    expect(parseDuration("")).toBeUndefined();
  });
});

describe("ps table", () => {
  it("keeps the header and the container's lines, by the PID column", () => {
    const out = [
      "UID          PID    PPID  C STIME TTY          TIME CMD",
      "root           1       0  0 08:00 ?        00:00:01 /sbin/init",
      "root         100       1  0 08:00 ?        00:00:00 sleep 100",
      "root        1000     100  0 08:00 ?        00:00:00 sh",
      "",
    ].join("\n");
    expect(filterPs(out, [100, 1000])).toBe(
      "UID          PID    PPID  C STIME TTY          TIME CMD\n" +
        "root         100       1  0 08:00 ?        00:00:00 sleep 100\n" +
        "root        1000     100  0 08:00 ?        00:00:00 sh\n",
    );
    expect(() => filterPs("USER COMMAND\n", [1])).toThrow("couldn't find PID field in ps output");
  });
});
