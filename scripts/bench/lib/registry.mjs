// Debian's docker-registry on 127.0.0.1 (a free port) with its storage under a bench's temp dir,
// for the benches that pull (images.mjs, node-ab.mjs, node-rss.mjs).
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/** A port nothing listens on now (the kernel's pick). */
export async function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

/**
 * Starts the registry and waits until /v2/ answers; returns its host:port and the child.
 * `tls`: HTTPS with a self-signed certificate for 127.0.0.1 (made by openssl under `work`; its
 * PEM file is returned as `cert`); the storage is the plain one's, so one push serves both.
 */
export async function startRegistry(work, { tls = false } = {}) {
  const host = `127.0.0.1:${await freePort()}`;
  const name = tls ? "registry-tls" : "registry";
  const conf = join(work, `${name}.yml`);
  let cert;
  let tlsConf = "";
  if (tls) {
    const key = join(work, `${name}.key`);
    cert = join(work, `${name}.crt`);
    const subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"];
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", ...subject],
      {
        stdio: "ignore",
      },
    );
    tlsConf = `, tls: {certificate: ${cert}, key: ${key}}`;
  }
  writeFileSync(
    conf,
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${work}/registry}}\nhttp: {addr: "${host}"${tlsConf}}\n`,
  );
  const child = spawn("docker-registry", ["serve", conf], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://${host}/v2/`); // an HTTPS server answers plain HTTP with a 400: up too
      return { host, child, cert };
    } catch {
      if (i > 100) {
        child.kill();
        throw new Error("docker-registry did not start");
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const sha = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/**
 * Pushes `rootfs` (a directory) to the registry at `host` as one gzip layer, `bench/busybox:1`
 * (skopeo from an OCI layout under `work`); returns the reference.
 */
export function pushRootfs(work, host, rootfs) {
  const oci = join(work, "oci");
  mkdirSync(join(oci, "blobs", "sha256"), { recursive: true });
  const put = (data, mediaType) => {
    writeFileSync(join(oci, "blobs", "sha256", sha(data).slice(7)), data);
    return { mediaType, digest: sha(data), size: data.length };
  };
  const tar = execFileSync("tar", ["--numeric-owner", "-C", rootfs, "-cf", "-", "."], { maxBuffer: 1 << 28 });
  const gz = execFileSync("gzip", ["-c", "-n", "-1"], { input: tar, maxBuffer: 1 << 28 });
  const cfg = { architecture: "amd64", os: "linux", config: { Cmd: ["true"] }, rootfs: { type: "layers", diff_ids: [sha(tar)] } };
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: put(Buffer.from(JSON.stringify(cfg)), "application/vnd.oci.image.config.v1+json"),
    layers: [put(gz, "application/vnd.oci.image.layer.v1.tar+gzip")],
  };
  const m = put(Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
  const ann = { "org.opencontainers.image.ref.name": "1" };
  writeFileSync(join(oci, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, annotations: ann }] }));
  writeFileSync(join(oci, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  execFileSync("skopeo", ["copy", "-q", "--dest-tls-verify=false", `oci:${oci}:1`, `docker://${host}/bench/busybox:1`]);
  return `${host}/bench/busybox:1`;
}
