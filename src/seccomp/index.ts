// linux.seccomp → BPF. Importing this module does no work; libseccomp is loaded on first compile.
export { compileSeccomp, encodeAction, type CompiledSeccomp } from "./compile.js";
export { validateSeccomp, usesNotify } from "./validate.js";
export { listenerPayload, fillPid, prepareSeccomp, seccompOpArgs, PID_PLACEHOLDER, type SeccompLoad } from "./notify.js";
