// SCMP_ACT_NOTIFY: what the shim sends to `linux.seccomp.listenerPath` together with the notify
// fd (SCM_RIGHTS): the OCI ContainerProcessState, as JSON.
//
// The container's pid (in the runtime's pid namespace) is not known when Node writes the plan, so
// the payload carries a placeholder where the pid goes: the byte 0x01, which JSON.stringify can
// never emit raw (it escapes control characters as \u0001). The shim replaces every 0x01 byte
// with the decimal pid; it does not parse JSON.
import type { State } from "../spec/types.js";
import type { Arg } from "../linux/plan.js";
import type { CompiledSeccomp } from "./compile.js";

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

/** Arguments of the SECCOMP op: bpf, flags, listener-path ("" = none), payload ("" = none). */
export function seccompOpArgs(compiled: CompiledSeccomp, listenerPath?: string, payload?: Buffer): Arg[] {
  if (!compiled.notify) return [compiled.bpf, compiled.flags, "", ""];
  return [compiled.bpf, compiled.flags, listenerPath ?? "", payload ?? Buffer.alloc(0)];
}
