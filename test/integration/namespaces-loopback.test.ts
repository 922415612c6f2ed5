// A new network namespace gets its loopback interface up, as with runc: 127.0.0.1 works inside
// (a database on localhost, a health check probing it). Checked by the interface's flags and by
// a real TCP connection over 127.0.0.1 inside the container.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/containers.js";
import { tempRoot } from "../helpers/polis.js";

let root: string;
beforeAll(() => {
  root = tempRoot();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const IFF_UP = 0x1;

describe("loopback in a new network namespace", () => {
  it("lo is up and a TCP connection to 127.0.0.1 works", () => {
    const script = [
      "cat /sys/class/net/lo/flags",
      "timeout 5 nc -l -p 7777 & sleep 0.3",
      "echo hello-over-lo | nc -w 2 127.0.0.1 7777; echo connect=$?",
      "wait",
    ].join("\n");
    const r = runScript(root, script, (c) => {
      c.process.args = ["sh", "-c", script];
    });
    expect(r.code, r.stderr).toBe(0);
    const flags = parseInt(r.stdout.split("\n")[0], 16);
    expect(flags & IFF_UP).toBe(IFF_UP);
    expect(r.stdout).toContain("connect=0");
    expect(r.stdout).toContain("hello-over-lo");
  });
});
