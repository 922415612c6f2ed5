// Debian's docker-registry on 127.0.0.1 (a free port) with its storage under a bench's temp dir,
// for the benches that pull (images.mjs, node-ab.mjs).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
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

/** Starts the registry and waits until /v2/ answers; returns its host:port and the child. */
export async function startRegistry(work) {
  const host = `127.0.0.1:${await freePort()}`;
  const conf = join(work, "registry.yml");
  writeFileSync(
    conf,
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${work}/registry}}\nhttp: {addr: "${host}"}\n`,
  );
  const child = spawn("docker-registry", ["serve", conf], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://${host}/v2/`);
      return { host, child };
    } catch {
      if (i > 100) {
        child.kill();
        throw new Error("docker-registry did not start");
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
