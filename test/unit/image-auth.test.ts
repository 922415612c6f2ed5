import { describe, expect, it } from "vitest";
import { parseChallenges, tokenUrl } from "../../src/image/auth.js";
import { apiHost, formatReference, parseReference } from "../../src/image/reference.js";
import { hostPlatform, parseManifest, selectPlatform, MEDIA } from "../../src/image/manifest.js";

describe("WWW-Authenticate", () => {
  it("parses a registry's Bearer challenge", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    expect(c).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
    });
    expect(tokenUrl(c, ["repository:library/busybox:pull"]).toString()).toBe(
      "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull",
    );
  });
  it("parses several challenges, quoted escapes and unquoted values", () => {
    expect(parseChallenges('Basic realm="Registry \\"x\\"", Bearer realm=https://t/token,service=s')).toEqual([
      { scheme: "basic", params: { realm: 'Registry "x"' } },
      { scheme: "bearer", params: { realm: "https://t/token", service: "s" } },
    ]);
  });
});

describe("references, normalised as docker does", () => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["user/app", "docker.io/user/app:latest"],
    ["index.docker.io/library/alpine", "docker.io/library/alpine:latest"],
    ["localhost/x", "localhost/x:latest"],
    ["localhost:5000/a/b:t", "localhost:5000/a/b:t"],
    ["127.0.0.1:5000/x@sha256:" + "a".repeat(64), "127.0.0.1:5000/x@sha256:" + "a".repeat(64)],
    ["quay.io/x/y:v1@sha256:" + "b".repeat(64), "quay.io/x/y:v1@sha256:" + "b".repeat(64)],
  ];
  for (const [input, want] of cases) it(input, () => expect(formatReference(parseReference(input))).toBe(want));
  it("talks to registry-1.docker.io for docker.io", () => {
    expect(apiHost(parseReference("busybox").registry)).toBe("registry-1.docker.io");
    expect(apiHost(parseReference("quay.io/a/b").registry)).toBe("quay.io");
  });
  for (const bad of ["", "Busybox", "a//b", "x:", "x@sha256:abc", "x:-tag", "-x", "host:5000/"]) {
    it(`refuses "${bad}"`, () => expect(() => parseReference(bad)).toThrow(/^invalid image reference/));
  }
});

describe("manifests and platforms", () => {
  const d = (arch: string, variant?: string) => ({
    mediaType: MEDIA.ociManifest,
    digest: "sha256:" + "c".repeat(64),
    size: 1,
    platform: { os: "linux", architecture: arch, ...(variant ? { variant } : {}) },
  });
  const index = { schemaVersion: 2 as const, mediaType: MEDIA.ociIndex, manifests: [d("arm", "v7"), d("arm64"), d("amd64")] };
  it("picks the host's platform and treats arm64 without variant as v8", () => {
    expect(selectPlatform(index, hostPlatform(), "x").platform?.architecture).toBe(hostPlatform().architecture);
    expect(selectPlatform(index, { os: "linux", architecture: "arm64", variant: "v8" }, "x").platform?.architecture).toBe(
      "arm64",
    );
  });
  it("lists what an index has when the platform is missing", () => {
    expect(() => selectPlatform(index, { os: "linux", architecture: "s390x" }, "r")).toThrow(
      "r: no image for platform linux/s390x in the index (it has: linux/arm/v7, linux/arm64, linux/amd64); choose one with --platform",
    );
  });
  it("refuses schema 1 with a clear error", () => {
    expect(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, name: "x" })), MEDIA.schema1Signed, "r")).toThrow(
      /schema 1 manifests are not supported/,
    );
  });
  it("refuses a manifest whose Content-Type disagrees with its mediaType", () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: d("x"), layers: [] }));
    expect(() => parseManifest(body, MEDIA.dockerManifest, "r")).toThrow(/the registry says the manifest is/);
    expect(parseManifest(body, MEDIA.ociManifest, "r").kind).toBe("manifest");
  });
});
