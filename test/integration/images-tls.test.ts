// A registry over HTTPS with a self-signed certificate: refused by default with a one-line error,
// pulled with the certificate as a configured CA file (verified), or with --tls-verify=false.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { OciLayout, push } from "../helpers/oci-layout.js";
import { polis, tempRoot } from "../helpers/polis.js";
import { selfSignedCert, startRegistry, type TestRegistry } from "../helpers/registry.js";
import { writeTar } from "../helpers/tarball.js";

const work = mkdtempSync(join(tmpdir(), "polis-tls-"));
let reg: TestRegistry;
let cert: { key: string; cert: string };
const roots: string[] = [];
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};

beforeAll(async () => {
  cert = selfSignedCert(work);
  reg = await startRegistry({ tls: cert });
  const layout = new OciLayout(join(work, "oci"));
  const l = layout.layer(writeTar(join(work, "t.tar"), [{ name: "hello", data: "hi" }]), "gzip");
  layout.image({ layers: [l], config: { Cmd: ["true"] }, arch: hostPlatform().architecture, tag: "t" });
  push(layout.dir, "t", `docker://${reg.host}/tls/app:1`);
}, 60_000);

afterAll(async () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("HTTPS registries", () => {
  it("a self-signed certificate is refused by default", () => {
    const r = polis(root(), ["pull", "-q", `${reg.host}/tls/app:1`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/registry unreachable: .*self[- ]signed certificate/i);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("pulls with the certificate as the registry's CA file in the config", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: ${cert.cert}\n`);
    expect(polis(r, ["--config", file, "pull", "-q", `${reg.host}/tls/app:1`])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^sha256:/),
    });
  });

  it("pulls over unverified HTTPS with --tls-verify=false", () => {
    expect(polis(root(), ["pull", "-q", "--tls-verify=false", `${reg.host}/tls/app:1`])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^sha256:/),
    });
  });

  it("a missing CA file is a one-line error naming it", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: /nonexistent/ca.pem\n`);
    expect(polis(r, ["--config", file, "pull", "-q", `${reg.host}/tls/app:1`]).stderr).toMatch(
      /registries: CA file \/nonexistent\/ca\.pem: ENOENT"\n$/,
    );
  });
});
