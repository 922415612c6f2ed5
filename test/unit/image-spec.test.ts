// Image config -> config.json (the image-spec conversion), and user names resolved inside the rootfs.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ImageConfig } from "../../src/image/image-config.js";
import { imageSpec, resolveUser } from "../../src/image/runtime-spec.js";
import { volumePaths } from "../../src/image/volumes.js";

const rootfs = mkdtempSync(join(tmpdir(), "polis-spec-"));
afterAll(() => rmSync(rootfs, { recursive: true, force: true }));
mkdirSync(join(rootfs, "etc"));
mkdirSync(join(rootfs, "data"));
// /etc/passwd is an absolute symlink: it must resolve inside the rootfs, never to the host's file
writeFileSync(join(rootfs, "data", "passwd"), "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n");
symlinkSync("/data/passwd", join(rootfs, "etc", "passwd"));
writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\nweb:x:33:\nadm:x:4:web,other\nstaff:x:50:web\n");
const opts = { rootfs, image: "img" };

describe("image config -> config.json", () => {
  it("Entrypoint + Cmd; arguments replace Cmd; Env gets a PATH; WorkingDir", () => {
    const cfg = { config: { Entrypoint: ["/bin/tini", "--"], Cmd: ["serve"], Env: ["A=1"], WorkingDir: "app" } };
    expect(imageSpec(cfg, opts).process).toMatchObject({ args: ["/bin/tini", "--", "serve"], cwd: "/app", terminal: false });
    expect(imageSpec(cfg, { ...opts, args: ["sh"] }).process?.args).toEqual(["/bin/tini", "--", "sh"]);
    expect(imageSpec(cfg, opts).process?.env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "A=1",
    ]);
    expect(imageSpec({ config: { Cmd: ["x"], Env: ["PATH=/x"] } }, opts).process?.env).toEqual(["PATH=/x"]);
  });
  it("no command at all is an error that says what to do", () => {
    expect(() => imageSpec({ config: {} }, opts)).toThrow(
      "img: the image has no Entrypoint or Cmd: give the command after the container id",
    );
  });
  it("labels, ports, stop signal and platform become annotations; the root is writable", () => {
    const s = imageSpec(
      {
        os: "linux",
        architecture: "amd64",
        config: { Cmd: ["x"], Labels: { a: "b" }, ExposedPorts: { "80/tcp": {}, "53/udp": {} }, StopSignal: "SIGQUIT" },
      },
      opts,
    );
    expect(s.annotations).toEqual({
      a: "b",
      "org.opencontainers.image.os": "linux",
      "org.opencontainers.image.architecture": "amd64",
      "org.opencontainers.image.exposedPorts": "80/tcp,53/udp",
      "org.opencontainers.image.stopSignal": "SIGQUIT",
    });
    expect(s.root).toEqual({ path: "rootfs", readonly: false });
  });
});

describe("User", () => {
  const cases: [string, object][] = [
    ["", { uid: 0, gid: 0 }],
    ["web", { uid: 33, gid: 33, additionalGids: [4, 50] }],
    ["33", { uid: 33, gid: 33, additionalGids: [4, 50] }],
    ["1000", { uid: 1000, gid: 0 }],
    ["web:staff", { uid: 33, gid: 50 }],
    ["1000:1000", { uid: 1000, gid: 1000 }],
  ];
  for (const [user, want] of cases) it(JSON.stringify(user), () => expect(resolveUser(user, rootfs, "img")).toEqual(want));
  it("unknown names are errors naming the field", () => {
    expect(() => resolveUser("nobody", rootfs, "img")).toThrow(
      'img: config.User "nobody": no user "nobody" in the image\'s /etc/passwd',
    );
    expect(() => resolveUser("web:nogroup", rootfs, "img")).toThrow('no group "nogroup" in the image\'s /etc/group');
  });
});

describe("config.Volumes", () => {
  const paths = (Volumes: unknown) => volumePaths({ config: { Volumes } } as ImageConfig, "img");
  it("absolute paths, normalised, once each, sorted", () => {
    expect(paths({ "/var/lib/x/": {}, "/data": {}, "/data//": {}, "/a/./b": {} })).toEqual(["/a/b", "/data", "/var/lib/x"]);
    expect(paths(undefined)).toEqual([]);
    expect(paths(null)).toEqual([]);
  });
  it("a relative path, / itself or a non-object is a one-line error naming the field", () => {
    expect(() => paths({ data: {} })).toThrow('img: config.Volumes "data": must be an absolute path below /');
    expect(() => paths({ "/": {} })).toThrow('img: config.Volumes "/": must be an absolute path below /');
    expect(() => paths({ "/../": {} })).toThrow('config.Volumes "/../"');
    expect(() => paths(["/data"])).toThrow("img: config.Volumes must be an object of paths");
  });
});
