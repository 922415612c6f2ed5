// A throw-away registry for the build's "pull" code cache (scripts/build.mjs): a node:http server
// on 127.0.0.1 that serves one small two-layer image, so that the warm-up runs a real `polis pull`
// (TLS probe, manifest, config and layers, the base layer unpacked while it downloads, the upper
// one from the stored blob, whiteouts, a symlink and a hard link) with no docker-registry at
// build time. Only what `pull` asks for is served (distribution API v2 GETs); anything else is 404.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export const WARM_REPOSITORY = "polis/warm-up";
export const WARM_TAG = "1";

const sha = (b) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** An uncompressed layer tar of the tree `make(dir)` writes (GNU tar, owners 0:0). */
function layerTar(make) {
  const dir = mkdtempSync(join(tmpdir(), "polis-warm-layer-"));
  try {
    make(dir);
    return execFileSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", "-", "."], {
      maxBuffer: 16 << 20,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The image: manifest, config and two gzip layers, by digest. */
function image() {
  const base = layerTar((d) => {
    mkdirSync(join(d, "bin"));
    mkdirSync(join(d, "etc"));
    writeFileSync(join(d, "bin", "sh"), Buffer.alloc(64 << 10, 1), { mode: 0o755 });
    linkSync(join(d, "bin", "sh"), join(d, "bin", "busybox"));
    symlinkSync("sh", join(d, "bin", "ls"));
    writeFileSync(join(d, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    writeFileSync(join(d, "etc", "group"), "root:x:0:\n");
  });
  const upper = layerTar((d) => {
    mkdirSync(join(d, "etc"));
    writeFileSync(join(d, "etc", ".wh.group"), "");
    writeFileSync(join(d, "etc", "hostname"), "warm-up\n");
  });
  const blobs = new Map();
  const put = (data, mediaType) => {
    const digest = sha(data);
    blobs.set(digest, { data, type: "application/octet-stream" });
    return { mediaType, digest, size: data.length };
  };
  const layers = [base, upper].map((t) => put(gzipSync(t), "application/vnd.oci.image.layer.v1.tar+gzip"));
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : process.arch,
        os: "linux",
        config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin"] },
        rootfs: { type: "layers", diff_ids: [sha(base), sha(upper)] },
      }),
    ),
    "application/vnd.oci.image.config.v1+json",
  );
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config, layers }));
  return { blobs, manifest: { data: manifest, type: mediaType, digest: sha(manifest) } };
}

/** Starts the registry; resolves to its host:port and a close function. */
export async function startWarmRegistry() {
  const { blobs, manifest } = image();
  const prefix = `/v2/${WARM_REPOSITORY}/`;
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    let found;
    if (path === `${prefix}manifests/${WARM_TAG}` || path === `${prefix}manifests/${manifest.digest}`) found = manifest;
    else if (path.startsWith(`${prefix}blobs/`)) found = blobs.get(path.slice(prefix.length + 6));
    if (!found) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "not in the warm-up registry" }] }));
      return;
    }
    res.writeHead(200, {
      "content-type": found.type,
      "content-length": found.data.length,
      "docker-content-digest": sha(found.data),
    });
    res.end(found.data);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    host: `127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
