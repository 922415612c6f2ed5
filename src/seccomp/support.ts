// What this host's libseccomp and kernel can actually do with linux.seccomp, for `polis features`:
// the kernel is asked directly (seccomp(2) probes that install nothing), the way runc does.
import { PolisError } from "../errors.js";
import { libseccomp, SECCOMP_GET_ACTION_AVAIL, SECCOMP_SET_MODE_FILTER, type LibSeccomp } from "./libseccomp.js";
import { ACTIONS, ARCHITECTURES, FLAG_NEW_LISTENER, FLAGS, OPERATORS } from "./names.js";

export interface SeccompSupport {
  enabled: boolean;
  actions: string[];
  operators: string[];
  archs: string[];
  knownFlags: string[];
  supportedFlags: string[];
}

const EFAULT = 14;
const EEXIST = 17;
const ALLOW = 0x7fff0000;

/** libseccomp knows the architecture *and* can put it in a filter for this host (it cannot mix
 * byte orders: a big-endian arch in an x86_64 filter fails with EDOM). */
function archUsable(lib: LibSeccomp, name: string): boolean {
  const arch = lib.archResolveName(ARCHITECTURES[name]);
  if (arch === 0) return false;
  const ctx = lib.init(ALLOW);
  if (!ctx) return false;
  try {
    const rc = lib.archAdd(ctx, arch);
    return rc === 0 || rc === -EEXIST;
  } finally {
    lib.release(ctx);
  }
}

/** Seccomp support as the runtime-spec features document describes it. */
export function seccompSupport(lib?: LibSeccomp): SeccompSupport {
  const knownFlags = Object.keys(FLAGS);
  try {
    lib ??= libseccomp();
  } catch (err) {
    if (!(err instanceof PolisError)) throw err;
    // no libseccomp: polis cannot build a filter, so it accepts none
    return { enabled: false, actions: [], operators: [], archs: [], knownFlags, supportedFlags: [] };
  }
  const l = lib;
  const actionAvailable = (value: number): boolean => {
    const buf = Buffer.alloc(4);
    buf.writeUInt32LE(value >>> 0);
    return l.seccomp(SECCOMP_GET_ACTION_AVAIL, 0, buf) === 0;
  };
  // A flag the kernel knows gets past the flag check and fails on the NULL program (EFAULT);
  // an unknown one fails with EINVAL. WAIT_KILLABLE_RECV is only valid with NEW_LISTENER.
  const flagAvailable = (bit: number): boolean => {
    const flags = bit === FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ? bit | FLAG_NEW_LISTENER : bit;
    return l.seccomp(SECCOMP_SET_MODE_FILTER, flags, null) === -1 && l.errno() === EFAULT;
  };
  return {
    enabled: true,
    actions: Object.keys(ACTIONS)
      .filter((a) => actionAvailable(ACTIONS[a]))
      .sort(),
    // libseccomp 2.5 implements every comparison the runtime-spec names
    operators: Object.keys(OPERATORS).sort(),
    archs: Object.keys(ARCHITECTURES)
      .filter((a) => archUsable(l, a))
      .sort(),
    knownFlags,
    supportedFlags: knownFlags.filter((f) => flagAvailable(FLAGS[f])),
  };
}
