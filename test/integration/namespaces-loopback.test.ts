// A new network namespace gets its loopback interface up, as with runc: 127.0.0.1 works inside
// (a database on localhost, a health check probing it). Checked by the interface's flags and by
// a real HTTP request over 127.0.0.1 inside the container.
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
  it("lo is up and an HTTP request to 127.0.0.1 works", () => {
    // httpd binds 127.0.0.1 itself (EADDRNOTAVAIL while lo is down) and serves /etc; wget fetches
    // a file back over the loopback (busybox nc would race its own stdin EOF against the data).
    const script = [
      "cat /sys/class/net/lo/flags",
      "httpd -p 127.0.0.1:7777 -h /etc || echo httpd-failed",
      // httpd forks into the background: retry until it listens
      "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:7777/passwd && break; sleep 0.2; done | head -n 1",
    ].join("\n");
    const r = runScript(root, script, (c) => {
      c.process.args = ["sh", "-c", script];
    });
    expect(r.code, r.stderr).toBe(0);
    const flags = parseInt(r.stdout.split("\n")[0], 16);
    expect(flags & IFF_UP).toBe(IFF_UP);
    expect(r.stdout).not.toContain("httpd-failed");
    expect(r.stdout).toMatch(/^root:x:0:0:/m);
  });
});
