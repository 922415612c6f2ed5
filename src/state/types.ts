// What the store records about a container. The live status is derived from these facts
// (liveStatus in src/container/context.ts), never trusted as written.
import { PolisError } from "../errors.js";
import type { Spec } from "../spec/types.js";

/**
 * How far the lifecycle got, as recorded by polis itself. "stopped" is never written: a stopped
 * container is one whose init is gone, which liveStatus sees from /proc. (The first migration's
 * CHECK still allows the word; migrations are never edited.)
 */
export type Phase = "creating" | "created" | "running";

export interface ContainerRecord {
  id: string;
  bundle: string; // absolute bundle directory
  rootfs: string; // absolute rootfs path
  phase: Phase;
  pid: number | null; // init pid in the host pid namespace (null until the shim reported it)
  pidStartTime: string | null; // field 22 of /proc/<pid>/stat, defeats pid reuse
  bootId: string; // /proc/sys/kernel/random/boot_id at create, defeats reboots
  creatorPid: number; // the `polis create` process, to recognise an interrupted create
  creatorStartTime: string;
  created: string; // RFC 3339 with nanoseconds, like runc
  owner: string; // user name of the creator ("root")
  annotations: Record<string, string>;
  config: Spec; // the validated config.json, for hooks at start/delete
  cgroupPaths: Record<string, string>; // controller name ("memory", "unified", …) -> absolute dir
  stateDir: string; // <root>/<id>: exec fifo and other per-container files
  sessionKeyring: string | null; // the keyring the init joined (null with --no-new-keyring)
}

/** Something a room (images, networks, monitor) holds for a container; released on delete. */
export interface ResourceRow {
  containerId: string;
  kind: string; // "network", "image-bundle", "monitor", …: selects the releaser
  name: string; // which one of its kind (a network name, a path)
  data: unknown; // whatever the releaser needs, as JSON
}

/** One entry of the engine's event history. */
export interface EngineEvent {
  seq: number;
  time: string; // RFC 3339 with nanoseconds, UTC
  type: string; // "container", "image", "network", …
  action: string; // "create", "start", "kill", "delete", "exit", "pull", …
  id: string; // the container id (or image/network name); "" when none
  attributes: Record<string, unknown>;
}

export interface EventQuery {
  afterSeq?: number;
  since?: string; // RFC 3339, inclusive
  until?: string;
  type?: string;
  action?: string;
  id?: string;
  limit?: number;
}

// Both are PolisErrors so the CLI prints them like any other user-facing failure.
export class ContainerExistsError extends PolisError {
  constructor(id: string) {
    super(`container with id ${id} already exists`);
    this.name = "ContainerExistsError";
  }
}

// runc's exact text, which containerd matches on; the id is kept as a property.
export class ContainerNotFoundError extends PolisError {
  constructor(readonly id: string) {
    super("container does not exist");
    this.name = "ContainerNotFoundError";
  }
}
