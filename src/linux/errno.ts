// errno names for the two places they come from: a Node exception's `code`, and a raw number
// (the shim's {step, errno} reports, libseccomp's -errno returns, bpf(2)).
import { constants as osConstants } from "node:os";
import { getSystemErrorMap } from "node:util";

/** The errno name of a failed fs/child_process call ("ENOENT"); EIO when Node gave none. */
export function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException | undefined)?.code ?? "EIO";
}

let errnoNames: Map<number, string> | undefined;

/** ENOENT for 2; "E<n>" when the number is unknown. */
export function errnoName(errno: number): string {
  const uv = getSystemErrorMap().get(-errno);
  if (uv) return uv[0];
  if (!errnoNames) {
    errnoNames = new Map();
    // first name wins: os.constants lists EAGAIN before EWOULDBLOCK, EDEADLK before EDEADLOCK
    for (const [name, n] of Object.entries(osConstants.errno)) if (!errnoNames.has(n)) errnoNames.set(n, name);
  }
  return errnoNames.get(errno) ?? `E${errno}`;
}
