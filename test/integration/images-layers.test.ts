// How an image's layers become a container's root filesystem, against a real registry: entries
// written through a lower layer's symlinks (`lib -> usr/lib`, absolute and relative) land where
// umoci puts them, both in `polis bundle`'s flattened copy and in the overlay `run --image`
// mounts over the per-layer directories; a symlink climbing out of the root is refused.
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { OciLayout, push, tarOf } from "../helpers/oci-layout.js";
import { POLIS, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { closeServer, listenLocal, startRegistry, type TestRegistry } from "../helpers/registry.js";
import { baseRootfs } from "../helpers/rootfs.js";
import { writeTar } from "../helpers/tarball.js";
import { snapshot } from "../helpers/tree.js";

const ARCH = hostPlatform().architecture;
const work = mkdtempSync(join(tmpdir(), "polis-image-layers-"));
let reg: TestRegistry;
let layout: OciLayout;
const roots: string[] = [];
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};
const ref = (repoTag: string) => `${reg.host}/${repoTag}`;
const pull = (r: string, repoTag: string) => polis(r, ["pull", "-q", "--tls-verify=false", ref(repoTag)]);
const mountsUnder = (dir: string) =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(dir));

beforeAll(async () => {
  reg = await startRegistry();
  layout = new OciLayout(join(work, "oci"));
  const base = tarOf(baseRootfs(), join(work, "base.tar"));
  const l1 = layout.layer(base, "gzip");
  // a usrmerge-like layer: /lib is a link into /usr; /abs an absolute link; /rel2 a link to a link
  const links = layout.layer(
    writeTar(join(work, "links.tar"), [
      { name: "usr/lib", type: "dir", mode: 0o775, uid: 5, gid: 6, xattrs: { "user.dir": "lower" } },
      { name: "usr/lib/old", data: "old" },
      { name: "usr/lib/keep", data: "keep\n" },
      { name: "usr/lib/hsrc", data: "linked", mode: 0o640, uid: 3, gid: 4 },
      { name: "lib", type: "symlink", linkname: "usr/lib" },
      { name: "abs", type: "symlink", linkname: "/usr" },
      { name: "rel2", type: "symlink", linkname: "./lib" },
    ]),
    "gzip",
  );
  // the next layer writes through them (no entry for lib itself), whites out through one, and
  // hard-links a file of the layer below through one
  const through = layout.layer(
    writeTar(join(work, "through.tar"), [
      { name: "lib/x", data: "x\n" },
      { name: "abs/lib/y", data: "y" },
      { name: "rel2/z", data: "z" },
      { name: "lib/.wh.old" },
      { name: "usr/lib/n", data: "n\n" },
      { name: "hl", type: "hardlink", linkname: "lib/hsrc" },
      { name: "new", type: "symlink", linkname: "made/here" },
      { name: "new/f", data: "f" },
      { name: "abs/share/doc/q", data: "q" },
    ]),
    "gzip",
  );
  layout.image({
    layers: [l1, links, through],
    config: { Cmd: ["sh", "-c", "cat /lib/x /usr/lib/n /rel2/keep; ls /usr/lib; test -e /lib/old || echo old is gone"] },
    arch: ARCH,
    tag: "symlinks",
  });
  const climb = layout.layer(
    writeTar(join(work, "climb.tar"), [
      { name: "etc/up", type: "symlink", linkname: "../../.." },
      { name: "etc/up/evil", data: "e" },
    ]),
    "gzip",
  );
  layout.image({ layers: [l1, climb], config: { Cmd: ["true"] }, arch: ARCH, tag: "climb" });
  const vol = layout.layer(
    writeTar(join(work, "vol.tar"), [
      { name: "data", type: "dir", mode: 0o777, uid: 1000, gid: 2000 },
      { name: "data/seed", data: "seeded\n", mode: 0o604, uid: 1000, gid: 2000, xattrs: { "user.from": "image" } },
      { name: "data/sub", type: "dir" },
      { name: "data/sub/deep", data: "deep\n" },
      { name: "data/ln", type: "symlink", linkname: "seed" },
      { name: "data2", type: "dir" },
      { name: "data2/inner", data: "through a link\n" },
      { name: "vlink", type: "symlink", linkname: "/data2" },
    ]),
    "gzip",
  );
  const volumes = { "/data": {}, "/empty/": {}, "/vlink": {} };
  layout.image({
    layers: [l1, vol],
    config: {
      Volumes: volumes,
      Cmd: ["sh", "-c", "cat /data/seed /data/sub/deep /vlink/inner; ls -A /empty; grep -c ' /data ' /proc/self/mountinfo"],
    },
    arch: ARCH,
    tag: "volumes",
  });
  layout.image({ layers: [l1], config: { Volumes: { "/etc/passwd": {} }, Cmd: ["true"] }, arch: ARCH, tag: "filevolume" });
  // a Docker schema2 manifest list (skopeo converts the OCI index when pushing with --format v2s2)
  const mine = layout.image({ layers: [l1, vol], config: { Cmd: ["cat", "/data/seed"] }, arch: ARCH });
  const other = layout.image({ layers: [vol], config: { Cmd: ["true"] }, arch: ARCH === "arm64" ? "amd64" : "arm64" });
  layout.index([mine, other], "list");
  push(layout.dir, "list", `docker://${ref("polis/list:1")}`, ["--all", "--format", "v2s2"]);
  push(layout.dir, "volumes", `docker://${ref("polis/volumes:1")}`);
  push(layout.dir, "filevolume", `docker://${ref("polis/filevolume:1")}`);
  push(layout.dir, "symlinks", `docker://${ref("polis/symlinks:1")}`);
  push(layout.dir, "climb", `docker://${ref("polis/climb:1")}`);
  const lying = { desc: vol.desc, diffId: `sha256:${"0".repeat(64)}` };
  layout.image({ layers: [l1, lying], config: { Cmd: ["true"] }, arch: ARCH, tag: "baddiffid" });
  push(layout.dir, "baddiffid", `docker://${ref("polis/baddiffid:1")}`);
}, 120_000);

afterAll(async () => {
  for (const r of roots) {
    for (const l of mountsUnder(r).reverse()) execFileSync("umount", ["-l", l.split(" ")[4]]);
    rmSync(r, { recursive: true, force: true });
  }
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("entries under a lower layer's symlinks", () => {
  it("land where umoci puts them, in the flattened bundle and in the overlay of run --image", () => {
    const r = root();
    expect(pull(r, "polis/symlinks:1")).toMatchObject({ code: 0, stderr: "" });
    execFileSync("umoci", ["unpack", "--image", `${layout.dir}:symlinks`, join(r, "umoci")], { stdio: "ignore" });
    const umoci = snapshot(join(r, "umoci", "rootfs"), { mtimes: true });
    expect(umoci["usr/lib/x"]).toBeDefined();
    expect(umoci.lib).toMatchObject({ type: "symlink", content: "usr/lib" });

    polisOk(r, ["bundle", ref("polis/symlinks:1"), join(r, "flat")]);
    expect(snapshot(join(r, "flat", "rootfs"), { mtimes: true })).toEqual(umoci);

    const id = uniqueId("sym");
    polisOk(r, ["create", "--image", ref("polis/symlinks:1"), id, "--", "sleep", "60"]);
    const rootfs = join(r, "bundles", id, "rootfs");
    expect(mountsUnder(rootfs)[0]).toMatch(/ - overlay overlay /);
    expect(snapshot(rootfs, { mtimes: true })).toEqual(umoci);
    polisOk(r, ["delete", "--force", id]);

    // each layer is stored once per stack (by chain id): the third layer's directory holds
    // usr/lib/x, not a lib/ directory that would hide the link
    const layers = readdirSync(join(r, "images", "layers"));
    expect(layers).toHaveLength(3);
    const third = layers.map((l) => join(r, "images", "layers", l)).find((d) => existsSync(join(d, "usr", "lib", "x")));
    expect(third).toBeDefined();
    expect(existsSync(join(third as string, "lib"))).toBe(false);
  });

  it("a container from the image reads them through the links", () => {
    const r = root();
    pull(r, "polis/symlinks:1");
    const run = polis(r, ["run", "--image", ref("polis/symlinks:1"), uniqueId("symrun")]);
    expect(run).toMatchObject({
      code: 0,
      stdout: "x\nn\nkeep\nhsrc\nkeep\nn\nx\ny\nz\nold is gone\n",
      stderr: "",
    });
  });

  it("a symlink whose target climbs above the root is refused, naming the layer and the entry; the store is unchanged", () => {
    const r = root();
    pull(r, "polis/symlinks:1");
    const before = readdirSync(join(r, "images", "blobs", "sha256")).sort();
    const res = pull(r, "polis/climb:1");
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
    expect(res.stderr).toMatch(
      /msg="layer sha256:[0-9a-f]{64}, entry \\"etc\/up\/evil\\": parent \\"etc\/up\\" leaves the root filesystem through a symbolic link"/,
    );
    expect(readdirSync(join(r, "images", "blobs", "sha256")).sort()).toEqual(before);
    expect(readdirSync(join(r, "images", "tmp"))).toEqual([]);
    expect(existsSync(join(r, "..", "evil")) || existsSync("/evil")).toBe(false);
  });
});

describe("a layer whose content does not match the config's rootfs.diff_ids", () => {
  it("fails the pull with a one-line error naming the layer; the store is unchanged", () => {
    const r = root();
    pull(r, "polis/symlinks:1");
    const list = (d: string) => readdirSync(join(r, "images", d)).sort();
    const before = [list("blobs/sha256"), list("layers")];
    const res = pull(r, "polis/baddiffid:1");
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
    expect(res.stderr).toMatch(
      /msg="layer sha256:[0-9a-f]{64}: uncompressed content has digest sha256:[0-9a-f]{64}, but the image config's rootfs.diff_ids says sha256:0{64}"/,
    );
    expect([list("blobs/sha256"), list("layers")]).toEqual(before);
    expect(list("tmp")).toEqual([]);
    expect(polisOk(r, ["images", "-q"]).stdout.trim().split("\n")).toHaveLength(1);
  });
});

describe("the image config's Volumes", () => {
  it("each is a writable mount seeded from the image, kept under the bundle, removed with it", async () => {
    const r = root();
    expect(pull(r, "polis/volumes:1")).toMatchObject({ code: 0, stderr: "" });
    // a container sees the image's content in each, an empty directory where the image has none
    const run = polis(r, ["run", "--image", ref("polis/volumes:1"), uniqueId("vrun")]);
    expect(run).toMatchObject({ code: 0, stdout: "seeded\ndeep\nthrough a link\n1\n", stderr: "" });

    const id = uniqueId("vol");
    const bundle = join(r, "bundles", id);
    polisOk(r, ["create", "--image", ref("polis/volumes:1"), id, "--", "sh", "-c", "echo hello > /data/new; exec sleep 60"]);
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    const mine = spec.mounts.filter((m: { source?: string }) => m.source?.startsWith(join(bundle, "volumes")));
    expect(mine.map((m: { destination: string; options: string[] }) => [m.destination, m.options])).toEqual([
      ["/data", ["rbind", "nosuid", "nodev"]],
      ["/empty", ["rbind", "nosuid", "nodev"]],
      ["/vlink", ["rbind", "nosuid", "nodev"]],
    ]);
    try {
      await checkVolume(r, id, bundle);
    } finally {
      polis(r, ["delete", "--force", id]);
    }
    expect(existsSync(bundle)).toBe(false);
    expect(mountsUnder(join(r, "bundles"))).toEqual([]);
  });

  async function checkVolume(r: string, id: string, bundle: string): Promise<void> {
    polisOk(r, ["start", id]);
    const hostVol = join(bundle, "volumes", "0-data");
    await waitFor(() => existsSync(join(hostVol, "new")));
    expect(readFileSync(join(hostVol, "new"), "utf8")).toBe("hello\n");
    // the write went to the volume, not to the overlay's upper directory
    expect(existsSync(join(bundle, "upper", "data", "new"))).toBe(false);
    // seeded with the image's owners, modes, xattrs, link targets and mtimes
    polisOk(r, ["bundle", ref("polis/volumes:1"), join(r, "flat")]);
    const seeded = snapshot(hostVol, { mtimes: true, ignore: (p) => p === "new" });
    expect(seeded).toEqual(snapshot(join(r, "flat", "rootfs", "data"), { mtimes: true }));
    expect(seeded["."]).toMatchObject({ uid: 1000, gid: 2000, mode: "0o777" });
    expect(seeded.seed.xattrs["user.from"]).toBe(Buffer.from("image").toString("hex"));
    // mounted in the container (nosuid, nodev), from the host directory
    const pid = JSON.parse(polisOk(r, ["state", id]).stdout).pid;
    const line = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .split("\n")
      .find((l) => l.split(" ")[4] === "/data");
    expect(line).toMatch(/\/volumes\/0-data \/data \S*nosuid,nodev/);
    // the file outlives the process, until the container is deleted
    polisOk(r, ["kill", id, "KILL"]);
    await waitFor(() => JSON.parse(polisOk(r, ["state", id]).stdout).status === "stopped");
    expect(readFileSync(join(hostVol, "new"), "utf8")).toBe("hello\n");
    polisOk(r, ["delete", id]);
  }

  it("a volume over a file of the image is a one-line error, and nothing is left", () => {
    const r = root();
    pull(r, "polis/filevolume:1");
    // run (the launcher's or node's) and create (node's bundle step, src/image/engine.ts)
    for (const verb of ["run", "create"]) {
      const id = uniqueId("vbad");
      const res = polis(r, [verb, "--image", ref("polis/filevolume:1"), id]);
      expect(res.code, verb).toBe(1);
      expect(res.stderr.trim().split("\n")).toHaveLength(1);
      expect(res.stderr).toContain('config.Volumes \\"/etc/passwd\\": the image has a file there, not a directory');
      expect(existsSync(join(r, "bundles", id))).toBe(false);
      expect(mountsUnder(join(r, "bundles"))).toEqual([]);
      expect(polisOk(r, ["list", "-q"]).stdout).toBe("");
    }
    // no resource row left: the image is free to go
    expect(polisOk(r, ["rmi", ref("polis/filevolume:1")]).stdout).toMatch(/Deleted:/);
  });
});

describe("overlay or copy", () => {
  it("polis features says how run --image makes a rootfs on this kernel", () => {
    const hasOverlay = /\toverlay$/m.test(readFileSync("/proc/filesystems", "utf8"));
    const features = JSON.parse(polisOk(root(), ["features"]).stdout);
    expect(features.annotations["org.polis.image.rootfs"]).toBe(hasOverlay ? "overlay" : "copy");
  });

  it("a foreground run --image mounts its overlay in the container's own mount namespace only (volatile): the host never sees it", async () => {
    const r = root();
    expect(pull(r, "polis/symlinks:1")).toMatchObject({ code: 0, stderr: "" });
    const id = uniqueId("ns");
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(
      POLIS,
      [
        "--root",
        r,
        "run",
        "--image",
        ref("polis/symlinks:1"),
        id,
        "--",
        "sh",
        "-c",
        "grep ' / / ' /proc/self/mountinfo; read x; cat /usr/lib/keep",
      ],
      { env, stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (b) => (out += b));
    child.stderr.on("data", (b) => (err += b));
    const exited = new Promise<number | null>((res) => child.once("exit", res));
    try {
      await waitFor(() => out.includes("\n"), 20_000);
      // the container's root is the overlay over the shared layers, mounted without syncs
      expect(out).toMatch(/ \/ \/ .* - overlay overlay \S*lowerdir=[^,]*images\/layers\/.*volatile/);
      const bundle = join(r, "bundles", id);
      const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
      expect(spec.mounts[0]).toMatchObject({ destination: "/", type: "overlay", source: "overlay" });
      expect(spec.mounts[0].options).toEqual(
        expect.arrayContaining([`upperdir=${join(bundle, "upper")}`, `workdir=${join(bundle, "work")}`, "volatile"]),
      );
      // nothing mounted on the host: the bundle's rootfs is an empty directory there
      expect(mountsUnder(join(r, "bundles"))).toEqual([]);
      expect(readdirSync(join(bundle, "rootfs"))).toEqual([]);
    } finally {
      child.stdin.end("\n");
    }
    expect(await exited).toBe(0);
    expect({ out: out.split("\n").slice(1).join("\n"), err }).toEqual({ out: "keep\n", err: "" });
    expect(existsSync(join(r, "bundles", id))).toBe(false);
    expect(polisOk(r, ["list", "-q"]).stdout).toBe("");
  });

  it("where the overlay mount fails (a root on overlayfs), run --image copies the layers, warns once, and delete removes the copy", () => {
    const r = root();
    const side = mkdtempSync(join(tmpdir(), "polis-overlay-root-"));
    for (const d of ["lower", "upper", "work"]) mkdirSync(join(side, d));
    execFileSync("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${side}/lower,upperdir=${side}/upper,workdir=${side}/work`,
      r,
    ]);
    const id = uniqueId("copy");
    try {
      expect(pull(r, "polis/volumes:1")).toMatchObject({ code: 0, stderr: "" });
      const res = polis(r, ["create", "--image", ref("polis/volumes:1"), id, "--", "true"]);
      expect(res.code).toBe(0);
      expect(res.stderr).toMatch(
        /^time=\S+ level=warning msg="overlayfs is not available \(.*\): copying the image's layers instead"\n$/,
      );
      const rootfs = join(r, "bundles", id, "rootfs");
      expect(mountsUnder(rootfs)).toEqual([]);
      expect(readFileSync(join(rootfs, "data", "seed"), "utf8")).toBe("seeded\n");
      expect(existsSync(join(rootfs, "bin", "busybox"))).toBe(true);
      // a foreground run (whose overlay would be mounted in the container) copies too
      expect(pull(r, "polis/list:1")).toMatchObject({ code: 0, stderr: "" });
      const fg = polis(r, ["run", "--image", ref("polis/list:1"), uniqueId("copyfg")]);
      expect(fg).toMatchObject({ code: 0, stdout: "seeded\n" });
      expect(fg.stderr).toMatch(
        /^time=\S+ level=warning msg="overlayfs is not available \(.*\): copying the image's layers instead"\n$/,
      );
    } finally {
      polis(r, ["delete", "--force", id]);
      expect(existsSync(join(r, "bundles", id))).toBe(false);
      execFileSync("umount", ["-l", r]);
      rmSync(side, { recursive: true, force: true });
    }
  });
});

describe("a Docker schema2 manifest list", () => {
  it("pulls the host's platform from it; inspect shows the list", () => {
    const r = root();
    const raw = JSON.parse(
      execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref("polis/list:1")}`], { encoding: "utf8" }),
    );
    expect(raw.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(pull(r, "polis/list:1")).toMatchObject({ code: 0, stderr: "" });
    const inspect = JSON.parse(polisOk(r, ["image", "inspect", ref("polis/list:1")]).stdout)[0];
    expect(inspect.Index.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(inspect.Manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(inspect.Platform).toBe(`linux/${ARCH}`);
    expect(polis(r, ["run", "--image", ref("polis/list:1"), uniqueId("list")]).stdout).toBe("seeded\n");
  });
});

describe("image prune", () => {
  /** Bytes of the regular files under the store's blobs and unpacked layers, and how many of each there are. */
  const usage = (r: string) => {
    const out = { bytes: 0, blobs: 0, layers: 0 };
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.isFile()) out.bytes += statSync(join(d, e.name)).size;
      }
    };
    walk(join(r, "images", "blobs"));
    walk(join(r, "images", "layers"));
    out.blobs = readdirSync(join(r, "images", "blobs", "sha256")).length;
    out.layers = readdirSync(join(r, "images", "layers")).length;
    return out;
  };

  it("reports the bytes, blobs and layers it freed, and keeps what the other image shares", () => {
    const r = root();
    pull(r, "polis/volumes:1");
    pull(r, "polis/symlinks:1");
    polisOk(r, ["tag", ref("polis/symlinks:1"), ref("polis/volumes:1")]); // the volumes image is dangling now
    const before = usage(r);
    const out = polisOk(r, ["image", "prune"]).stdout;
    const after = usage(r);
    const m =
      /^Deleted: sha256:[0-9a-f]{64}\nTotal reclaimed space: ([\d.]+)(B|kB|MB) \((\d+) blobs, (\d+) unpacked layers\)\n$/.exec(
        out,
      );
    expect(m, out).not.toBeNull();
    const [, n, unit, blobs, layers] = m as RegExpExecArray;
    const freed = before.bytes - after.bytes;
    expect(freed).toBeGreaterThan(0);
    const scale = { B: 1, kB: 1e3, MB: 1e6 }[unit as "B"];
    expect(Math.abs(Number(n) * scale - freed)).toBeLessThanOrEqual(0.05 * scale + 1);
    // the manifest, the config and the volume layer's blob; the layer's directory over busybox
    expect(Number(blobs)).toBe(before.blobs - after.blobs);
    expect(Number(blobs)).toBe(3);
    expect(Number(layers)).toBe(before.layers - after.layers);
    expect(Number(layers)).toBe(1);
    // the shared busybox layer stayed: the other image still runs
    expect(polis(r, ["run", "--image", ref("polis/symlinks:1"), uniqueId("after"), "--", "cat", "/lib/x"]).stdout).toBe("x\n");
  });
});

describe("layer downloads", () => {
  it("run in parallel, at most three at a time, and every layer still lands in order", async () => {
    // a fake registry (in this process: polis runs asynchronously) that holds each blob answer
    // a moment and counts how many are open at once
    const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
    const tars = Array.from({ length: 6 }, (_, i) =>
      readFileSync(writeTar(join(work, `par${i}.tar`), [{ name: `f${i}`, data: `layer ${i}\n` }])),
    );
    const gz = tars.map((t) => gzipSync(t));
    const config = JSON.stringify({
      architecture: ARCH,
      os: "linux",
      config: { Cmd: ["true"] },
      rootfs: { type: "layers", diff_ids: tars.map(sha) },
    });
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
      layers: gz.map((g) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(g), size: g.length })),
    });
    const blobs = new Map<string, Buffer>([
      [sha(config), Buffer.from(config)],
      ...gz.map((g) => [sha(g), g] as [string, Buffer]),
    ]);
    let open = 0;
    let most = 0;
    const server = createServer((req, res) => {
      const url = req.url ?? "";
      if (url === "/v2/") return res.end("{}");
      if (url.endsWith("/manifests/1")) {
        return res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(manifest);
      }
      const blob = blobs.get(url.split("/blobs/")[1] ?? "");
      if (!blob) return res.writeHead(404).end();
      const layer = gz.some((g) => g === blob);
      if (layer) most = Math.max(most, ++open);
      setTimeout(
        () => {
          if (layer) open--;
          res.end(blob);
        },
        layer ? 300 : 0,
      );
    });
    const host = await listenLocal(server);
    try {
      const r = root();
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const out = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(POLIS, ["--root", r, "pull", "--tls-verify=false", `${host}/par/img:1`], { env }, (err, _o, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
        ),
      );
      expect(out.code, out.stderr).toBe(0);
      expect(most).toBe(3);
      // the progress lines come in layer order (each layer is unpacked over the ones below)
      const done = out.stderr.split("\n").filter((l) => l.startsWith("Copying blob"));
      expect(done).toEqual(gz.map((g) => expect.stringMatching(new RegExp(`^Copying blob ${sha(g).slice(7, 19)} done`))));
      polisOk(r, ["bundle", `${host}/par/img:1`, join(r, "b")]);
      for (let i = 0; i < 6; i++) expect(readFileSync(join(r, "b", "rootfs", `f${i}`), "utf8")).toBe(`layer ${i}\n`);
    } finally {
      await closeServer(server);
    }
  }, 60_000);
});

describe("pull by digest", () => {
  it("pulls REPO@sha256:…, prints that digest, and runs it by the same name", () => {
    const tagged = root();
    const digest = pull(tagged, "polis/symlinks:1").stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const r = root();
    const byDigest = `${ref("polis/symlinks")}@${digest}`;
    expect(polis(r, ["pull", "-q", "--tls-verify=false", byDigest])).toMatchObject({
      code: 0,
      stdout: `${digest}\n`,
      stderr: "",
    });
    const [row] = JSON.parse(polisOk(r, ["images", "--format", "json"]).stdout);
    expect(row).toMatchObject({ Repository: ref("polis/symlinks"), Tag: "<none>", Digest: digest });
    expect(polis(r, ["run", "--image", byDigest, uniqueId("dig"), "--", "cat", "/lib/x"]).stdout).toBe("x\n");
  });
});
