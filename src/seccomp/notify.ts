// SCMP_ACT_NOTIFY: what the shim sends to `linux.seccomp.listenerPath` together with the notify
// fd (SCM_RIGHTS): the OCI ContainerProcessState, as JSON.
//
// The container's pid (in the runtime's pid namespace) is not known when Node writes the plan, so
// the payload carries a placeholder where the pid goes: the byte 0x01, which JSON.stringify can
// never emit raw (it escapes control characters as \u0001). The shim replaces every 0x01 byte
// with the decimal pid; it does not parse JSON.
import type { Seccomp, State } from "../spec/types.js";
import type { Arg } from "../linux/plan.js";
import { compileSeccomp, type CompiledSeccomp } from "./compile.js";

/** What the plan builders need to load a filter (the SECCOMP and SECCOMP_LISTENER ops). */
export interface SeccompLoad {
  /** raw struct sock_filter[] */
  bpf: Buffer;
  /** SECCOMP_FILTER_FLAG_* (NEW_LISTENER included when the filter notifies) */
  flags: number;
  /** set when the filter has SCMP_ACT_NOTIFY rules: the agent's socket */
  listenerPath?: string;
  /** the ContainerProcessState sent with the notify fd, pid left as placeholders */
  payload?: Buffer;
}

export const PID_PLACEHOLDER = 0x01;
const PID = String.fromCharCode(PID_PLACEHOLDER);

/** The ContainerProcessState for the seccomp agent, with the pid left as a placeholder. */
export function listenerPayload(state: Omit<State, "pid">, metadata = ""): Buffer {
  const { ociVersion } = state;
  const stateJson = JSON.stringify({ ...state, status: "creating" });
  // `stateJson` ends with "}": splice the pid in as the last member.
  const withPid = `${stateJson.slice(0, -1)},"pid":${PID}}`;
  const head = JSON.stringify({ ociVersion, fds: ["seccompFd"], metadata });
  return Buffer.from(`${head.slice(0, -1)},"pid":${PID},"state":${withPid}}`);
}

/** The pid substitution the shim performs, for tests and for documentation. */
export function fillPid(payload: Buffer, pid: number): string {
  return payload.toString().split(PID).join(String(pid));
}

/**
 * Compile `linux.seccomp` for a process of the container whose state is `state` (the init at
 * create, or a process `polis exec` starts). Loads libseccomp: call it only when there is a filter.
 */
export function prepareSeccomp(seccomp: Seccomp, state: Omit<State, "pid">, field = "linux.seccomp"): SeccompLoad {
  const compiled = compileSeccomp(seccomp, field);
  if (!compiled.notify) return { bpf: compiled.bpf, flags: compiled.flags };
  return {
    bpf: compiled.bpf,
    flags: compiled.flags,
    listenerPath: seccomp.listenerPath,
    payload: listenerPayload(state, seccomp.listenerMetadata ?? ""),
  };
}

/** Arguments of the SECCOMP op: bpf, flags, listener-path ("" = none), payload ("" = none). */
export function seccompOpArgs(compiled: CompiledSeccomp, listenerPath?: string, payload?: Buffer): Arg[] {
  if (!compiled.notify) return [compiled.bpf, compiled.flags, "", ""];
  return [compiled.bpf, compiled.flags, listenerPath ?? "", payload ?? Buffer.alloc(0)];
}
