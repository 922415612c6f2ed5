// polis under Kubernetes' CRI: containerd 1.6's CRI plugin with a runtime handler whose runc-v2
// options name polis as BinaryName. A pod sandbox and a container in it are driven through the
// CRI gRPC API (a minimal client on @grpc/grpc-js with test/fixtures/cri/api.proto), and checked
// from outside: polis's own state under the shim's --root, /proc, cgroupfs, the container log.
// The pod uses the host network, so no CNI plugin is needed.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cgroupDirs,
  pidsInCgroup,
  pidsWithCmdline,
  removeCgroup,
  run,
  startContainerd,
  uniqueName,
  writePolisWrapper,
  type Containerd,
} from "../helpers/containerd.js";
import { buildBusyboxImage } from "../helpers/image.js";
import { REPO } from "../helpers/rootfs.js";
import { waitFor } from "../helpers/polis.js";
import { lacking } from "../helpers/host.js";

type Grpc = typeof import("@grpc/grpc-js");
type ProtoLoader = typeof import("@grpc/proto-loader");

async function loadGrpc(): Promise<{ grpc: Grpc; loader: ProtoLoader } | undefined> {
  try {
    return { grpc: await import("@grpc/grpc-js"), loader: await import("@grpc/proto-loader") };
  } catch {
    return undefined;
  }
}

const grpcLibs = await loadGrpc();
const missing =
  lacking("CRI suite", { packages: ["containerd"], files: ["/usr/bin/containerd", "/usr/bin/ctr"] }) ||
  (grpcLibs ? "" : lacking("CRI suite", { files: ["node_modules/@grpc/grpc-js (devDependencies: npm install)"] }));

const HANDLER = "polis";
const NS = "k8s.io"; // the CRI plugin's namespace, fixed

// NamespaceMode.NODE: the host's network namespace, so the pod needs no CNI.
const HOST_NETWORK = { network: "NODE", pid: "POD", ipc: "POD" };

type Rpc = (req: object) => Promise<any>;

/** The RuntimeService as promise-returning methods. */
function criClient(address: string): { call: Record<string, Rpc>; close: () => void } {
  const { grpc, loader } = grpcLibs!;
  const def = loader.loadSync(join(REPO, "test", "fixtures", "cri", "api.proto"), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.runtime.v1.RuntimeService(`unix://${address}`, grpc.credentials.createInsecure());
  const call: Record<string, Rpc> = new Proxy(
    {},
    {
      get: (_t, method: string) => (req: object) =>
        new Promise((resolve, reject) => {
          client[method](req, { deadline: Date.now() + 60_000 }, (err: Error | null, res: unknown) =>
            err ? reject(new Error(`CRI ${method}: ${err.message}`)) : resolve(res),
          );
        }),
    },
  );
  return { call, close: () => client.close() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!!missing)("containerd CRI with a polis runtime handler", () => {
  let work: string;
  let bin: string;
  let ctrd: Containerd;
  let cri: ReturnType<typeof criClient>;
  const busybox = "docker.io/polis/busybox:test";
  const pause = "docker.io/polis/pause:test";

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "polis-cri-test-"));
    bin = writePolisWrapper(work);
    const images = [
      buildBusyboxImage(join(work, "busybox")),
      // The sandbox's "pause" container: busybox that sleeps; CRI kills it with SIGKILL.
      buildBusyboxImage(join(work, "pause"), { name: "docker.io/polis/pause", entrypoint: ["sleep", "2147483647"], cmd: [] }),
    ];
    ctrd = await startContainerd({ cri: { sandboxImage: pause, handler: HANDLER, runtimeBinary: bin } });
    for (const img of images) {
      const r = await ctrd.ctr(["images", "import", img.tarball], { ns: NS });
      expect(r.code, r.stderr).toBe(0);
    }
    cri = criClient(ctrd.address);
    const v = await cri.call.Version({ version: "v1" });
    expect(v.runtime_api_version).toBe("v1");
    // The CRI plugin learns about imported images from containerd's events: wait until it has both.
    for (let i = 0; i < 50; i++) {
      const r = await ctrd.ctr(["images", "ls", "-q"], { ns: NS });
      if (r.stdout.includes(busybox) && r.stdout.includes(pause)) break;
      await sleep(100);
    }
  });

  afterAll(async () => {
    cri?.close();
    await ctrd?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const polisList = async (): Promise<Array<{ id: string; status: string; pid: number }>> => {
    const r = await run(bin, ["--root", ctrd.runtimeRoot(NS), "list", "--format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout || "[]") ?? [];
  };

  it("runs a pod sandbox and a container in it, both under polis, and tears them down", async () => {
    const uid = uniqueName("pod");
    const cgroupParent = `/polis-cri-${uid}`;
    const logDir = join(work, "logs", uid);
    mkdirSync(logDir, { recursive: true });
    const sandboxConfig = {
      metadata: { name: "polis-pod", uid, namespace: "default", attempt: 0 },
      // No hostname: like kubelet for a host-network pod (there is no private UTS namespace).
      log_directory: logDir,
      linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: HOST_NETWORK } },
    };
    let sandboxId = "";
    let containerId = "";
    try {
      ({ pod_sandbox_id: sandboxId } = await cri.call.RunPodSandbox({ config: sandboxConfig, runtime_handler: HANDLER }));
      const sb = await cri.call.PodSandboxStatus({ pod_sandbox_id: sandboxId });
      expect(sb.status.state).toBe("SANDBOX_READY");
      expect(sb.status.runtime_handler).toBe(HANDLER);

      ({ container_id: containerId } = await cri.call.CreateContainer({
        pod_sandbox_id: sandboxId,
        sandbox_config: sandboxConfig,
        config: {
          metadata: { name: "app", attempt: 0 },
          image: { image: busybox },
          command: ["sh", "-c"],
          args: ["echo hello-from-cri; echo $POLIS_ENV; exec sleep 1000"],
          envs: [{ key: "POLIS_ENV", value: "env-passed" }],
          log_path: "app.log",
          linux: { security_context: { namespace_options: HOST_NETWORK } },
        },
      }));
      await cri.call.StartContainer({ container_id: containerId });
      const st = await cri.call.ContainerStatus({ container_id: containerId });
      expect(st.status.state).toBe("CONTAINER_RUNNING");

      // Both are polis containers: polis has them, running, under the shim's root.
      const list = await polisList();
      const sbRow = list.find((c) => c.id === sandboxId);
      const ctRow = list.find((c) => c.id === containerId);
      expect(sbRow, JSON.stringify(list)).toMatchObject({ status: "running" });
      expect(ctRow, JSON.stringify(list)).toMatchObject({ status: "running" });
      const sbPid = sbRow!.pid;
      const ctPid = ctRow!.pid;
      expect(readFileSync(`/proc/${sbPid}/cmdline`, "utf8")).toBe("sleep\0" + "2147483647\0");
      // The container's shell echoes twice before it execs sleep: on a loaded host that takes a moment.
      const cmdline = () => readFileSync(`/proc/${ctPid}/cmdline`, "utf8");
      await waitFor(() => cmdline() === "sleep\0" + "1000\0", 10_000).catch(() => {});
      expect(cmdline()).toBe("sleep\0" + "1000\0");
      // In the pod: the pod's cgroup parent, the sandbox's pid and ipc namespaces, the host network.
      expect(readFileSync(`/proc/${sbPid}/cgroup`, "utf8")).toContain(`:pids:${cgroupParent}/${sandboxId}\n`);
      expect(readFileSync(`/proc/${ctPid}/cgroup`, "utf8")).toContain(`:pids:${cgroupParent}/${containerId}\n`);
      expect(readlinkSync(`/proc/${ctPid}/ns/pid`)).toBe(readlinkSync(`/proc/${sbPid}/ns/pid`));
      expect(readlinkSync(`/proc/${ctPid}/ns/ipc`)).toBe(readlinkSync(`/proc/${sbPid}/ns/ipc`));
      expect(readlinkSync(`/proc/${ctPid}/ns/pid`)).not.toBe(readlinkSync("/proc/self/ns/pid"));
      expect(readlinkSync(`/proc/${ctPid}/ns/net`)).toBe(readlinkSync("/proc/self/ns/net"));

      // Its output reaches the CRI log, in the CRI log format.
      const logFile = join(logDir, "app.log");
      for (let i = 0; i < 50 && !(existsSync(logFile) && readFileSync(logFile, "utf8").includes("env-passed")); i++)
        await sleep(100);
      const log = readFileSync(logFile, "utf8");
      expect(log).toMatch(/ stdout F hello-from-cri\n/);
      expect(log).toMatch(/ stdout F env-passed\n/);

      // ExecSync goes through `polis exec`.
      const ex = await cri.call.ExecSync({
        container_id: containerId,
        cmd: ["sh", "-c", "echo exec-ok; echo exec-err >&2; exit 3"],
        timeout: 20,
      });
      expect(Buffer.from(ex.stdout).toString()).toBe("exec-ok\n");
      expect(Buffer.from(ex.stderr).toString()).toBe("exec-err\n");
      expect(ex.exit_code).toBe(3);

      // sleep is not pid 1 (the sandbox's sleep is), so SIGTERM ends it: exit 143.
      await cri.call.StopContainer({ container_id: containerId, timeout: 10 });
      const stopped = await cri.call.ContainerStatus({ container_id: containerId });
      expect(stopped.status.state).toBe("CONTAINER_EXITED");
      expect(stopped.status.exit_code).toBe(143);
      await cri.call.RemoveContainer({ container_id: containerId });
      containerId = "";

      await cri.call.StopPodSandbox({ pod_sandbox_id: sandboxId });
      await cri.call.RemovePodSandbox({ pod_sandbox_id: sandboxId });
      const removed = sandboxId;
      sandboxId = "";

      // Nothing left: polis state, processes, shims, cgroups.
      const ids = [removed, ctRow!.id];
      for (let i = 0; i < 100; i++) {
        if (pidsWithCmdline("containerd-shim", ctrd.address).length === 0) break;
        await sleep(100);
      }
      expect((await polisList()).filter((c) => ids.includes(c.id))).toEqual([]);
      expect(pidsWithCmdline("containerd-shim", ctrd.address)).toEqual([]);
      expect(pidsInCgroup(cgroupParent)).toEqual([]);
      for (const id of ids) expect(cgroupDirs(`${cgroupParent}/${id}`)).toEqual([]);
    } finally {
      // Best effort after a failure; the assertions above are what judge the run.
      if (containerId) await cri.call.RemoveContainer({ container_id: containerId }).catch(() => {});
      if (sandboxId) {
        await cri.call.StopPodSandbox({ pod_sandbox_id: sandboxId }).catch(() => {});
        await cri.call.RemovePodSandbox({ pod_sandbox_id: sandboxId }).catch(() => {});
      }
      removeCgroup(cgroupParent);
    }
  }, 90_000);
});
