// A registry over HTTPS with a self-signed certificate: refused by default with a one-line error,
// pulled with the certificate as a configured CA file (verified), as NODE_EXTRA_CA_CERTS (which
// the launcher moves to POLIS_EXTRA_CA_CERTS so that node starts without parsing it), or with
// --tls-verify=false.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { OciLayout, push } from "../helpers/oci-layout.js";
import { POLIS, POLIS_MJS, polis, tempRoot } from "../helpers/polis.js";
import { selfSignedCert, startRegistry, type TestRegistry } from "../helpers/registry.js";
import { writeTar } from "../helpers/tarball.js";

const work = mkdtempSync(join(tmpdir(), "polis-tls-"));
let reg: TestRegistry;
let cert: { key: string; cert: string };
/** a CA of nobody's: trusting it must not cost the others */
let otherCert: { key: string; cert: string };
const roots: string[] = [];
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};

beforeAll(async () => {
  cert = selfSignedCert(work);
  otherCert = selfSignedCert(mkdtempSync(join(work, "other-")));
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
    // over HTTPS, not plain HTTP: the TLS hello that spares a plain registry the HTTPS attempt
    // got a TLS answer here (NODE_DEBUG=https shows the HTTPS connections)
    const res = polis(root(), ["--debug", "pull", "-q", "--tls-verify=false", `${reg.host}/tls/app:1`], {
      env: { NODE_DEBUG: "https" },
    });
    expect(res).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
    expect(res.stderr).toMatch(/^HTTPS \d+: createConnection/m);
    // polis-fetch speaks plain HTTP only: over HTTPS node downloads the layers itself
    expect(res.stderr).toMatch(/msg="blob downloaded by node"/);
    expect(res.stderr).not.toMatch(/polis-fetch/);
  });

  it("a missing CA file is a one-line error naming it", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: /nonexistent/ca.pem\n`);
    expect(polis(r, ["--config", file, "pull", "-q", `${reg.host}/tls/app:1`]).stderr).toMatch(
      /registries: CA file \/nonexistent\/ca\.pem: ENOENT"\n$/,
    );
  });

  /** `argv` run with exactly `env` (plus PATH), no NODE_EXTRA_CA_CERTS unless given. */
  const run = (argv: string[], env: Record<string, string>) => {
    const r = spawnSync(argv[0], argv.slice(1), {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("NODE_EXTRA_CA_CERTS reaches a pull through the launcher as POLIS_EXTRA_CA_CERTS; node starts without it", () => {
    // POLIS_NODE: a node that writes down the environment the launcher gave it
    const seen = join(work, "env-seen");
    const node = join(work, "node-env");
    writeFileSync(node, `#!/bin/sh\nenv > ${seen}\nexec ${process.execPath} "$@"\n`);
    chmodSync(node, 0o755);
    const env = { NODE_EXTRA_CA_CERTS: cert.cert, POLIS_NODE: node };
    const envSeen = () => readFileSync(seen, "utf8").split("\n");

    const r = run([POLIS, "--root", root(), "pull", "-q", `${reg.host}/tls/app:1`], env);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^sha256:/);
    expect(envSeen()).toContain(`POLIS_EXTRA_CA_CERTS=${cert.cert}`);
    expect(envSeen().filter((l) => l.startsWith("NODE_EXTRA_CA_CERTS="))).toEqual([]);

    // a command without TLS drops it altogether
    expect(run([POLIS, "--root", root(), "images", "-q"], env)).toMatchObject({ code: 0 });
    expect(envSeen().filter((l) => /^(NODE|POLIS)_EXTRA_CA_CERTS=/.test(l))).toEqual([]);
  });

  it("POLIS_EXTRA_CA_CERTS is trusted beside the config's CA files, and so is node's own NODE_EXTRA_CA_CERTS", () => {
    const r = root();
    const file = join(r, "config.yaml");
    writeFileSync(file, `registries:\n  "${reg.host}":\n    ca: ${otherCert.cert}\n`);
    const pull = [process.execPath, POLIS_MJS, "--root", r, "--config", file, "pull", "-q", `${reg.host}/tls/app:1`];
    expect(run(pull, {})).toMatchObject({ code: 1, stderr: expect.stringMatching(/self[- ]signed certificate/i) });
    expect(run(pull, { POLIS_EXTRA_CA_CERTS: cert.cert })).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
    // node dist/polis.mjs started with NODE_EXTRA_CA_CERTS: the config's CA must not replace it
    expect(run(pull, { NODE_EXTRA_CA_CERTS: cert.cert })).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:/) });
  });

  it("an unreadable POLIS_EXTRA_CA_CERTS is a warning naming it, as node's is; the certificate is then refused", () => {
    const r = run([process.execPath, POLIS_MJS, "--root", root(), "pull", "-q", `${reg.host}/tls/app:1`], {
      POLIS_EXTRA_CA_CERTS: "/nonexistent/extra.pem",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ignoring extra CA certificates from \/nonexistent\/extra\.pem \(POLIS_EXTRA_CA_CERTS\)/);
    expect(r.stderr).toMatch(/registry unreachable: .*self[- ]signed certificate/i);
  });
});
