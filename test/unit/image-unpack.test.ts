// The layer unpacker against GNU tar (same tree from the same archive) and against hostile
// archives (each refused with the layer and entry named, nothing written outside the target).
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  lstatSync,
  readdirSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lgetxattrs } from "../../src/image/libc.js";
import { LayerStream, unpackLayer } from "../../src/image/unpack.js";
import { writeTar } from "../helpers/tarball.js";
import { snapshot } from "../helpers/tree.js";
import { unpackersOf } from "../helpers/unpackers.js";

const work = mkdtempSync(join(tmpdir(), "polis-unpack-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => {
  const d = join(work, `${name}-${n++}`);
  mkdirSync(d);
  return d;
};
const L = "sha256:" + "ab".repeat(32);

/** A source tree with every kind of entry a layer can carry. */
function sourceTree(): string {
  const src = fresh("src");
  const sh = String.raw`
    set -e; cd "$1"
    mkdir -p d/sub empty; echo hello > f; ln f hardlink; ln -s ../f d/rel-link; ln -s /etc/passwd abs-link
    mknod cdev c 1 3; mknod bdev b 7 0; mkfifo fifo; chmod 4755 f; chmod 1777 empty; chown 12:34 d; chown -h 5:6 abs-link
    L=$(printf 'long%.0s' $(seq 40)); mkdir -p $L/$L; echo deep > $L/$L/file
    printf 'caf\xc3\xa9' > "unicode-é"; head -c 300000 /dev/urandom > big
    setcap cap_net_raw+ep big
    python3 -c "import os; os.setxattr('f', 'user.note', b'v\x00\xff')"
    # modes the umask would cut, and a set-group-id directory whose root-owned children must not
    # keep the group (or, for a directory, the bit) it hands down: the unpacker skips chown and
    # chmod for a fresh 0:0 entry only where they would change nothing
    echo w > open-file; chmod 666 open-file; mkdir open-dir; chmod 777 open-dir
    mkdir -p sg/inner; echo x > sg/file; ln -s file sg/link; mkfifo sg/fifo; chown 0:1000 sg; chmod 2775 sg
  `;
  execFileSync("bash", ["-c", sh, "x", src]);
  return src;
}

describe("unpack against GNU tar", () => {
  const src = sourceTree();
  const tar = join(work, "layer.tar");
  // sorted: the umask-cut entries come before the set-group-id directory turns the shortcut off
  execFileSync("tar", ["--sort=name", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-cf", tar, "-C", src, "."]);
  execFileSync("gzip", ["-k", tar]);
  execFileSync("zstd", ["-q", "-k", tar]);
  const want = snapshot(src, { mtimes: true });

  for (const [kind, file] of [
    ["plain", tar],
    ["gzip", `${tar}.gz`],
    ["zstd", `${tar}.zst`],
  ]) {
    it(`writes the same tree from a ${kind} layer, with the right diff_id`, async () => {
      const out = fresh(kind);
      const diffId = `sha256:${execFileSync("sha256sum", [tar], { encoding: "utf8" }).split(" ")[0]}`;
      const r = await unpackLayer(file, { target: out, mode: "apply", layer: L, diffId });
      expect(r.diffId).toBe(diffId);
      expect(snapshot(out, { mtimes: true })).toEqual(want);
      expect(statSync(join(out, "f")).ino).toBe(statSync(join(out, "hardlink")).ino);
    });
  }

  it("refuses a layer whose content does not match its diff_id", async () => {
    await expect(
      unpackLayer(tar, { target: fresh("bad"), mode: "apply", layer: L, diffId: "sha256:" + "0".repeat(64) }),
    ).rejects.toThrow(`layer ${L}: uncompressed content has digest`);
  });

  it("refuses a truncated layer", async () => {
    const cut = join(work, "cut.tar.gz");
    const gz = readFileSync(`${tar}.gz`);
    writeFileSync(cut, gz.subarray(0, gz.length >> 1));
    await expect(unpackLayer(cut, { target: fresh("cut"), mode: "apply", layer: L })).rejects.toThrow(
      /^layer sha256:ab+.*(unexpected end|truncated)/,
    );
  });
});

describe("whiteouts", () => {
  const lower = writeTar(join(work, "lower.tar"), [
    { name: "a", type: "dir" },
    { name: "a/keep", data: "k" },
    { name: "a/gone", data: "g" },
    { name: "a/gonedir", type: "dir" },
    { name: "a/gonedir/x", data: "x" },
    { name: "opq", type: "dir" },
    { name: "opq/old", data: "o" },
    { name: "opq/sub", type: "dir" },
    { name: "opq/sub/deep", data: "d" },
  ]);
  const upper = writeTar(join(work, "upper.tar"), [
    { name: "a/.wh.gone" },
    { name: "a/.wh.gonedir" },
    { name: "opq/new", data: "n" },
    { name: "opq/.wh..wh..opq" },
    { name: "opq/sub", type: "dir" },
    { name: "opq/sub/fresh", data: "f" },
  ]);

  it("apply: a whiteout deletes the lower entry, an opaque dir keeps only this layer's content", async () => {
    const out = fresh("wh");
    await unpackLayer(lower, { target: out, mode: "apply", layer: L });
    await unpackLayer(upper, { target: out, mode: "apply", layer: L });
    expect(Object.keys(snapshot(out)).sort()).toEqual([".", "a", "a/keep", "opq", "opq/new", "opq/sub", "opq/sub/fresh"]);
  });

  it("overlay: whiteouts become 0/0 character devices and the opaque dir gets trusted.overlay.opaque", async () => {
    const out = fresh("ovl");
    await unpackLayer(upper, { target: out, mode: "overlay", layer: L });
    const tree = snapshot(out);
    expect(tree["a/gone"]).toMatchObject({ type: "char", content: "0,0" });
    expect(tree["a/gonedir"]).toMatchObject({ type: "char", content: "0,0" });
    expect(lgetxattrs(join(out, "opq")).get("trusted.overlay.opaque")?.toString()).toBe("y");
    expect(existsSync(join(out, "opq/.wh..wh..opq"))).toBe(false);
  });

  it("a bare .wh. is an error", async () => {
    const t = writeTar(join(work, "bare.tar"), [{ name: "x/.wh." }]);
    await expect(unpackLayer(t, { target: fresh("bare"), mode: "apply", layer: L })).rejects.toThrow(
      `layer ${L}, entry "x/.wh.": invalid whiteout`,
    );
  });
});

describe("paths that would land outside the target are refused", () => {
  const outside = join(work, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "s");
  const cases: [string, Parameters<typeof writeTar>[1], RegExp][] = [
    ["dot-dot", [{ name: "../outside/evil", data: "e" }], /entry "\.\.\/outside\/evil": entry ".*" leaves the root filesystem/],
    ["absolute", [{ name: "/tmp/evil", data: "e" }], /entry "\/tmp\/evil": entry "\/tmp\/evil" is an absolute path/],
    [
      "symlinked parent, relative, climbing above the root",
      [
        { name: "up", type: "symlink", linkname: "../outside" },
        { name: "up/evil", data: "e" },
      ],
      /entry "up\/evil": parent "up" leaves the root filesystem through a symbolic link/,
    ],
    [
      "symlinked parent, climbing through a deeper link",
      [
        { name: "a/b", type: "dir" },
        { name: "a/b/up", type: "symlink", linkname: "../../../outside" },
        { name: "a/b/up/evil", data: "e" },
      ],
      /entry "a\/b\/up\/evil": parent "a\/b\/up" leaves the root filesystem/,
    ],
    [
      "a symlink loop",
      [
        { name: "x", type: "symlink", linkname: "y" },
        { name: "y", type: "symlink", linkname: "x" },
        { name: "x/f", data: "e" },
      ],
      /entry "x\/f": "x": too many levels of symbolic links/,
    ],
    [
      "a parent that is a symlink to a file",
      [
        { name: "f", data: "f" },
        { name: "l", type: "symlink", linkname: "/f" },
        { name: "l/x", data: "e" },
      ],
      /entry "l\/x": parent "f" is not a directory/,
    ],
    [
      "hardlink to outside",
      [{ name: "hl", type: "hardlink", linkname: "../outside/secret" }],
      /entry "hl": hardlink target ".*" leaves the root filesystem/,
    ],
    [
      "hardlink through a symlink to outside",
      [
        { name: "s", type: "symlink", linkname: "../outside" },
        { name: "hl", type: "hardlink", linkname: "s/secret" },
      ],
      /entry "hl": hardlink target "s\/secret": parent "s" leaves the root filesystem/,
    ],
  ];
  for (const [what, entries, message] of cases) {
    it(what, async () => {
      const t = writeTar(join(work, `${what.replace(/\W/g, "-")}.tar`), entries);
      const target = fresh("esc");
      const err = await unpackLayer(t, { target, mode: "apply", layer: L }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(new RegExp(`^layer ${L}, `));
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain("\n");
      expect(readFileSync(join(outside, "secret"), "utf8")).toBe("s");
      expect(existsSync(join(outside, "evil"))).toBe(false);
      expect(existsSync("/tmp/evil")).toBe(false);
      expect(statSync(join(outside, "secret")).nlink).toBe(1);
    });
  }

  it("an absolute symlinked parent resolves inside the target, as if the target were /", async () => {
    const target = fresh("abs");
    const t = writeTar(join(work, "abs.tar"), [
      { name: "link", type: "symlink", linkname: outside },
      { name: "link/evil", data: "e" },
      { name: "hl", type: "hardlink", linkname: "link/evil" },
    ]);
    await unpackLayer(t, { target, mode: "apply", layer: L });
    expect(readFileSync(join(target, outside, "evil"), "utf8")).toBe("e");
    expect(statSync(join(target, "hl")).ino).toBe(statSync(join(target, outside, "evil")).ino);
    expect(existsSync(join(outside, "evil"))).toBe(false);
  });

  it("a file replacing a symlink replaces the link, not its target", async () => {
    const target = fresh("repl");
    const t = writeTar(join(work, "repl.tar"), [
      { name: "s", type: "symlink", linkname: join(outside, "secret") },
      { name: "s", data: "mine" },
    ]);
    await unpackLayer(t, { target, mode: "apply", layer: L });
    expect(lstatSync(join(target, "s")).isFile()).toBe(true);
    expect(readFileSync(join(outside, "secret"), "utf8")).toBe("s");
  });
});

describe("symlinked parents resolve through the layers below (overlay mode) as on a flattened root (apply mode)", () => {
  const lower = writeTar(join(work, "sym-lower.tar"), [
    { name: ".", type: "dir", mode: 0o711, uid: 7, gid: 8, xattrs: { "user.root": "lower" } },
    { name: "usr", type: "dir" },
    { name: "usr/lib", type: "dir", mode: 0o750, uid: 5, gid: 6, xattrs: { "user.dir": "lower" } },
    { name: "usr/lib/old", data: "old" },
    { name: "usr/lib/keep", data: "keep" },
    { name: "usr/lib/hsrc", data: "linked", mode: 0o640, uid: 3, gid: 4 },
    { name: "lib", type: "symlink", linkname: "usr/lib" },
    { name: "abs", type: "symlink", linkname: "/usr" },
    { name: "rel2", type: "symlink", linkname: "./lib" },
    { name: "shadow", type: "dir" },
    { name: "shadow/s", data: "s" },
    { name: "dev", type: "dir" },
    { name: "dev/null", type: "char", major: 1, minor: 3, mode: 0o666 },
    { name: "dev/pipe", type: "fifo", mode: 0o600, uid: 9 },
    { name: "dev/ln", type: "symlink", linkname: "null" },
  ]);
  const upper = writeTar(join(work, "sym-upper.tar"), [
    { name: "lib/x", data: "x" },
    { name: "abs/lib/y", data: "y" },
    { name: "rel2/z", data: "z" },
    { name: "lib/.wh.old" },
    { name: "usr/lib/n", data: "n" },
    { name: "hl", type: "hardlink", linkname: "lib/hsrc" },
    { name: "new", type: "symlink", linkname: "made/here" },
    { name: "new/f", data: "f" },
    { name: "abs/share/doc/q", data: "q" },
    { name: "shadow", type: "symlink", linkname: "usr" },
    { name: "shadow/w", data: "w" },
    { name: "hnull", type: "hardlink", linkname: "dev/null" },
    { name: "hpipe", type: "hardlink", linkname: "dev/pipe" },
    { name: "hln", type: "hardlink", linkname: "dev/ln" },
  ]);

  it("the kernel's overlay of the per-layer directories shows the tree apply mode writes", async () => {
    const flat = fresh("flat");
    await unpackLayer(lower, { target: flat, mode: "apply", layer: L });
    await unpackLayer(upper, { target: flat, mode: "apply", layer: L });
    const l1 = fresh("l1");
    const l2 = fresh("l2");
    await unpackLayer(lower, { target: l1, mode: "overlay", layer: L });
    await unpackLayer(upper, { target: l2, mode: "overlay", layer: L, lowers: [l1] });
    const merged = fresh("merged");
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${l2}:${l1}`, merged]);
    try {
      const want = snapshot(flat, { mtimes: true });
      expect(snapshot(merged, { mtimes: true })).toEqual(want);
      // what the layer said, through the links below it
      for (const f of ["x", "y", "z", "n", "keep"]) expect(want[`usr/lib/${f}`]).toBeDefined();
      expect(want["usr/lib/old"]).toBeUndefined();
      expect(want.lib).toMatchObject({ type: "symlink", content: "usr/lib" });
      expect(want["usr/lib"]).toMatchObject({ mode: "0o750", uid: 5, gid: 6 });
      expect(want["."]).toMatchObject({ mode: "0o711", uid: 7, gid: 8 });
      // hard links to a lower layer's device, fifo and symlink: the target copied up, then linked
      expect(want.hnull).toMatchObject({ type: "char", content: "1,3", mode: "0o666" });
      expect(want.hpipe).toMatchObject({ type: "fifo", uid: 9 });
      expect(want.hln).toMatchObject({ type: "symlink", content: "null" });
      expect(want["usr/share/doc/q"]).toBeDefined();
      expect(want["made/here/f"]).toBeDefined();
      expect(want.hl).toMatchObject({ nlink: 2, mode: "0o640", uid: 3 });
      expect(want["usr/w"]).toBeDefined();
      expect(want["shadow/s"]).toBeUndefined();
      // the upper layer's own directory: the entries went where the links lead, and the lower
      // directory it wrote into was copied up with its owner, mode and xattrs
      const own = snapshot(l2);
      expect(own.lib).toBeUndefined();
      expect(own["usr/lib"]).toMatchObject({ mode: "0o750", uid: 5, gid: 6 });
      expect(own["usr/lib"].xattrs["user.dir"]).toBe(Buffer.from("lower").toString("hex"));
      expect(own["usr/lib/old"]).toMatchObject({ type: "char", content: "0,0" });
    } finally {
      execFileSync("umount", [merged]);
    }
  });
});

// The unpacker is a child process (native/layer/): its failures reach the caller as one line
// naming the layer (and the entry), and a child that dies without a report is said to have.
describe("the unpacker's failures", () => {
  const src = fresh("fail-src");
  execFileSync("sh", ["-c", `cd ${src} && mkdir d && echo a > d/a && head -c 2000000 /dev/urandom > d/big && echo z > z`]);
  const tar = join(work, "fail.tar");
  execFileSync("tar", ["--numeric-owner", "-C", src, "-cf", tar, "."]);
  execFileSync("gzip", ["-k", tar]);

  it("corrupt gzip data: bad compressed data, with zlib's reason", async () => {
    const gz = Buffer.from(readFileSync(`${tar}.gz`));
    gz.fill(0x55, 2000, 3000);
    const bad = join(work, "corrupt.tar.gz");
    writeFileSync(bad, gz);
    const err = (await unpackLayer(bad, { target: fresh("corrupt"), mode: "apply", layer: L }).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`^layer ${L}(, entry "[^"]+")?: bad compressed data: [a-z]`));
    expect(err.message).not.toContain("\n");
  });

  it("a plain tar cut inside a file: bad tar, archive is truncated, naming the file", async () => {
    const cut = join(work, "cut.tar");
    writeFileSync(cut, readFileSync(tar).subarray(0, 100_000));
    await expect(unpackLayer(cut, { target: fresh("cut-plain"), mode: "apply", layer: L })).rejects.toThrow(
      `layer ${L}, entry "./d/big": bad tar: archive is truncated`,
    );
  });

  it("not a tar at all: bad header checksum", async () => {
    const junk = join(work, "junk");
    writeFileSync(junk, "x".repeat(2048));
    await expect(unpackLayer(junk, { target: fresh("junk"), mode: "apply", layer: L })).rejects.toThrow(
      `layer ${L}: bad tar: bad header checksum (not a tar archive, or corrupted)`,
    );
  });

  it("a pax path or linkpath holding a NUL byte is refused, not cut at the NUL", async () => {
    for (const [key, type] of [
      ["path", "file"],
      ["linkpath", "symlink"],
    ] as const) {
      const t = writeTar(join(work, `nul-${key}.tar`), [{ name: "ok", type, linkname: "x", pax: { [key]: "etc/passwd\0.txt" } }]);
      const target = fresh(`nul-${key}`);
      await expect(unpackLayer(t, { target, mode: "apply", layer: L })).rejects.toThrow(
        `layer ${L}: bad tar: pax ${key} holds a NUL byte`,
      );
      expect(readdirSync(target)).toEqual([]);
    }
  });

  it("the child killed half-way: the unpack fails saying so, and no unpacker is left", async () => {
    // a layer that takes a while: 300 MB of zeros, gzip'd to ~300 KB
    const big = join(work, "zeros.tar.gz");
    const zsrc = fresh("zeros");
    execFileSync("sh", [
      "-c",
      `head -c 300000000 /dev/zero > ${zsrc}/zeros && tar --numeric-owner -C ${zsrc} -cf - zeros | gzip -1 > ${big}`,
    ]);
    rmSync(zsrc, { recursive: true });
    const target = fresh("killed");
    const p = unpackLayer(big, { target, mode: "overlay", layer: L });
    p.catch(() => {});
    let pids: number[] = [];
    for (let i = 0; i < 200 && pids.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      pids = unpackersOf(process.pid);
    }
    expect(pids).toHaveLength(1);
    process.kill(pids[0], "SIGKILL");
    await expect(p).rejects.toThrow(
      new RegExp(`^layer ${L}: the unpacker \\S+polis-layer was killed by SIGKILL without a report$`),
    );
    expect(unpackersOf(process.pid)).toEqual([]);
  }, 60_000);

  it("the binary missing: one line naming it", async () => {
    const saved = process.env.POLIS_LAYER;
    process.env.POLIS_LAYER = join(work, "no-such-polis-layer");
    try {
      const err = (await unpackLayer(tar, { target: fresh("nobin"), mode: "apply", layer: L }).catch((e: Error) => e)) as Error;
      expect(err.message).toBe(
        `layer ${L}: cannot run the unpacker ${join(work, "no-such-polis-layer")}: spawn ${join(work, "no-such-polis-layer")} ENOENT (build it: npm run install)`,
      );
      // streamed: the bytes pushed meanwhile go nowhere, finish says why
      const s = new LayerStream({ target: fresh("nobin-stream"), mode: "overlay", layer: L });
      s.push(readFileSync(tar).subarray(0, 100_000), 0);
      await new Promise((r) => setTimeout(r, 20));
      s.push(readFileSync(tar).subarray(100_000, 200_000), 100_000);
      await expect(s.finish()).rejects.toThrow(`layer ${L}: cannot run the unpacker ${join(work, "no-such-polis-layer")}: spawn`);
    } finally {
      if (saved === undefined) delete process.env.POLIS_LAYER;
      else process.env.POLIS_LAYER = saved;
    }
  });
});
