// polis runs its nft commands in-process through libnftables (src/network/libnftables.ts) and
// falls back to the nft binary when the library cannot be loaded (POLIS_NFT_EXEC=1 takes that
// path on purpose). Both must leave the same table in the kernel, and a published port must
// work and go away either way. Inside a throw-away network namespace (test/helpers/netns.ts).
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostHttpGet, NetContainers } from "../helpers/netctr.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { POLIS, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";

const skip = networkTestsUnavailable();
const EXEC = { POLIS_NFT_EXEC: "1" };

describe.skipIf(skip)("nftables in-process and through the nft binary", () => {
  let ns: TestNetns;
  let c: NetContainers;
  const root = tempRoot();
  beforeAll(async () => {
    ns = await TestNetns.make();
    c = new NetContainers(ns, root);
    ns.polisOk(root, ["network", "create", "--subnet", "10.71.0.0/24", "nftnet"]);
  });
  afterAll(async () => {
    c?.cleanup();
    ns?.close();
    // busybox `timeout` leaves its watchdog sleeping out the 4 s after wget is done: not a leak, but wait for it
    await waitFor(() => !fetchesRunning(), 10_000);
  });

  const fetchesRunning = () =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .some((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("http://127.0.0.1:1808");
        } catch {
          return false;
        }
      });
  const table = () => ns.exec("nft", ["list", "table", "inet", "polis"]);
  /** GET from the host as 127.0.0.1 (a few tries: httpd may still be starting). */
  const get = (port: number) => {
    let out = "";
    for (let i = 0; i < 5 && !out.includes("root:"); i++) out = ns.sh(hostHttpGet("127.0.0.1", port)).stdout;
    return out;
  };

  it("make the same table, and a port published by either path answers and goes with its container", () => {
    const web = c.run(["--network", "nftnet", "-p", "18080:80"], ["httpd", "-f", "-p", "80", "-h", "/etc"]);
    // the first container on the network made its bridge after the swap: localhost works all the same
    // (route_localnet is set on the bridge once the ADD made it)
    expect(get(18080)).toContain("root:");
    const viaLib = table();
    expect(viaLib.code).toBe(0);
    expect(viaLib.stdout).toContain("dport 18080 dnat ip to 10.71.0.");

    ns.polisOk(root, ["network", "reload"], EXEC);
    expect(table().stdout).toBe(viaLib.stdout);
    // which path ran: without nft on the PATH, only the in-process one works
    const reloadWithoutNft = (env: string) => ns.sh(`${env} PATH=/var/empty ${POLIS} --root ${root} network reload`);
    expect(reloadWithoutNft("").code).toBe(0);
    const r = reloadWithoutNft("POLIS_NFT_EXEC=1");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nft not found: install the nftables package");
    ns.polisOk(root, ["network", "reload"]);
    expect(table().stdout).toBe(viaLib.stdout);

    // attach and detach through the binary: the port is published, then gone with the container
    const id = uniqueId("nftexec");
    ns.polisOk(
      root,
      [
        "run",
        "-d",
        "--bundle",
        c.bundle(["httpd", "-f", "-p", "80", "-h", "/etc"], id),
        "--network",
        "nftnet",
        "-p",
        "18081:80",
        id,
      ],
      EXEC,
    );
    expect(table().stdout).toContain("dport 18081 dnat ip to 10.71.0.");
    expect(get(18081)).toContain("root:");
    ns.polisOk(root, ["delete", "--force", id], EXEC);
    expect(table().stdout).not.toContain("18081");
    expect(table().stdout).toContain("dport 18080");

    ns.polisOk(root, ["delete", "--force", web]);
    expect(table().stdout).not.toContain("18080");
  });
});
