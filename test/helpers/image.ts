// A local OCI image of the busybox test rootfs, built by hand (no registry, no umoci):
// one uncompressed tar layer + config + manifest + index, in an OCI layout directory and
// as an OCI archive tarball. containerd imports the tarball (`ctr images import`), podman
// can load either (`podman load -i <tarball>` or `oci:<ociLayoutDir>:<tag>`).
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { baseRootfs } from "./rootfs.js";

export interface BusyboxImage {
  /** OCI image layout directory (oci-layout, index.json, blobs/sha256/...). */
  ociLayoutDir: string;
  /** The same layout as a tar archive (what `ctr images import` and `podman load` read). */
  tarball: string;
  /** Full image reference, e.g. docker.io/polis/busybox:test. */
  ref: string;
  /** The tag alone (org.opencontainers.image.ref.name in index.json). */
  tag: string;
  /** sha256:... of the manifest. */
  manifestDigest: string;
}

export interface ImageOptions {
  /** Image name without tag; default docker.io/polis/busybox. */
  name?: string;
  /** Tag; default "test". */
  tag?: string;
  /** Image config Cmd; default ["sh"]. */
  cmd?: string[];
  /** Image config Entrypoint; default none. */
  entrypoint?: string[];
}

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

/** Write `data` as a content-addressed blob; return its descriptor fields. */
function putBlob(layout: string, data: Buffer | string): { digest: string; size: number } {
  const hex = sha256(data);
  writeFileSync(join(layout, "blobs", "sha256", hex), data);
  return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
}

/** Build the busybox image under `dir` (created if missing). */
export function buildBusyboxImage(dir: string, opts: ImageOptions = {}): BusyboxImage {
  const name = opts.name ?? "docker.io/polis/busybox";
  const tag = opts.tag ?? "test";
  const ref = `${name}:${tag}`;
  const layout = join(dir, "oci");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });

  // Uncompressed layer, so the layer digest is also the diff_id. Numeric owners, sorted
  // names and a fixed mtime keep the digest stable from run to run.
  const layerTmp = join(dir, "layer.tar");
  execFileSync("tar", [
    "--sort=name",
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "--mtime=@0",
    "-C",
    baseRootfs(),
    "-cf",
    layerTmp,
    ".",
  ]);
  const layerData = readFileSync(layerTmp);
  const layer = putBlob(layout, layerData);

  const config = {
    architecture: "amd64",
    os: "linux",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
      Cmd: opts.cmd ?? ["sh"],
      WorkingDir: "/",
    },
    rootfs: { type: "layers", diff_ids: [layer.digest] },
    history: [{ created_by: "polis test/helpers/image.ts" }],
  };
  const configBlob = putBlob(layout, JSON.stringify(config));

  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
  };
  const manifestBlob = putBlob(layout, JSON.stringify(manifest));

  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifestBlob,
        platform: { architecture: "amd64", os: "linux" },
        annotations: {
          // containerd's importer takes the full name from here; podman and umoci use the tag.
          "io.containerd.image.name": ref,
          "org.opencontainers.image.ref.name": tag,
        },
      },
    ],
  };
  writeFileSync(join(layout, "index.json"), JSON.stringify(index));
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  rmSync(layerTmp);
  const tarball = join(dir, "image.tar");
  execFileSync("tar", ["--numeric-owner", "-C", layout, "-cf", tarball, "oci-layout", "index.json", "blobs"]);
  return { ociLayoutDir: layout, tarball, ref, tag, manifestDigest: manifestBlob.digest };
}
