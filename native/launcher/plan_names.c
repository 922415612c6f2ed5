/*
 * The name tables of src/spec/names.ts the plan needs, in C. They must agree with the TypeScript
 * ones; test/integration/native-plan-differential.test.ts compares plans built from every name.
 */
#include <string.h>
#include <sys/mount.h>

#include "plan_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int index_in(const char *const *names, size_t count, const char *name) {
    for (size_t i = 0; i < count; i++) {
        if (names[i] && !strcmp(names[i], name)) return (int)i;
    }
    return -1;
}

/* CAPABILITIES: the bit number is the index. */
static const char *const CAPS[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

int cap_number(const char *name) { return index_in(CAPS, COUNT(CAPS), name); }

/* RLIMITS: the resource number is the index. */
static const char *const RLIMITS[] = {
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};

int rlimit_number(const char *name) { return index_in(RLIMITS, COUNT(RLIMITS), name); }

/* NAMESPACE_TYPES; time's CLONE_NEWTIME is never a CLONE flag (it shares CSIGNAL's bits). */
static const struct { const char *type; unsigned flag; } NS[] = {
    { "mount", 0x00020000 }, { "uts", 0x04000000 }, { "ipc", 0x08000000 }, { "user", 0x10000000 },
    { "pid", 0x20000000 }, { "network", 0x40000000 }, { "cgroup", 0x02000000 }, { "time", 0x00000080 },
};

unsigned ns_clone_flag(const char *type) {
    for (size_t i = 0; i < COUNT(NS); i++) {
        if (!strcmp(NS[i].type, type)) return NS[i].flag;
    }
    return 0;
}

static const char *const JOIN_ORDER[] = { "user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount" };

int ns_join_rank(const char *type) { return index_in(JOIN_ORDER, COUNT(JOIN_ORDER), type); }

/* IOPRIO_CLASSES: RT 1, BE 2, IDLE 3 */
static const char *const IOPRIO_CLASSES[] = { NULL, "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE" };

int ioprio_class(const char *name) { return index_in(IOPRIO_CLASSES, COUNT(IOPRIO_CLASSES), name); }

/* SCHED_POLICIES: the policy number is the index */
static const char *const SCHED_POLICIES[] = {
    "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE",
};

int sched_policy(const char *name) { return index_in(SCHED_POLICIES, COUNT(SCHED_POLICIES), name); }

/* SCHED_FLAGS: bit 1 << index */
static const char *const SCHED_FLAGS[] = {
    "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX",
};

int sched_flag(const char *name) {
    int i = index_in(SCHED_FLAGS, COUNT(SCHED_FLAGS), name);
    return i < 0 ? -1 : 1 << i;
}

/* PERSONALITY_DOMAINS: LINUX 0, LINUX32 8 (PER_LINUX32) */
int personality_domain(const char *name) {
    if (!strcmp(name, "LINUX")) return 0;
    if (!strcmp(name, "LINUX32")) return 8;
    return -1;
}

/* ROOTFS_PROPAGATIONS: the propagation options by the same names */
unsigned rootfs_propagation(const char *name) {
    static const char *const NAMES[] = { "private", "shared", "slave", "unbindable",
                                         "rprivate", "rshared", "rslave", "runbindable" };
    if (index_in(NAMES, COUNT(NAMES), name) < 0) return 0;
    return mount_option(name)->value;
}

static const struct mount_option OPTIONS[] = {
    { "defaults", MOPT_SET, 0, false },
    { "ro", MOPT_SET, MS_RDONLY, false },
    { "rw", MOPT_CLEAR, MS_RDONLY, false },
    { "suid", MOPT_CLEAR, MS_NOSUID, false },
    { "nosuid", MOPT_SET, MS_NOSUID, false },
    { "dev", MOPT_CLEAR, MS_NODEV, false },
    { "nodev", MOPT_SET, MS_NODEV, false },
    { "exec", MOPT_CLEAR, MS_NOEXEC, false },
    { "noexec", MOPT_SET, MS_NOEXEC, false },
    { "sync", MOPT_SET, MS_SYNCHRONOUS, false },
    { "async", MOPT_CLEAR, MS_SYNCHRONOUS, false },
    { "dirsync", MOPT_SET, MS_DIRSYNC, false },
    { "remount", MOPT_SET, MS_REMOUNT, false },
    { "mand", MOPT_SET, MS_MANDLOCK, false },
    { "nomand", MOPT_CLEAR, MS_MANDLOCK, false },
    { "atime", MOPT_CLEAR, MS_NOATIME, false },
    { "noatime", MOPT_SET, MS_NOATIME, false },
    { "diratime", MOPT_CLEAR, MS_NODIRATIME, false },
    { "nodiratime", MOPT_SET, MS_NODIRATIME, false },
    { "relatime", MOPT_SET, MS_RELATIME, false },
    { "norelatime", MOPT_CLEAR, MS_RELATIME, false },
    { "strictatime", MOPT_SET, MS_STRICTATIME, false },
    { "nostrictatime", MOPT_CLEAR, MS_STRICTATIME, false },
    { "lazytime", MOPT_SET, MS_LAZYTIME, false },
    { "nolazytime", MOPT_CLEAR, MS_LAZYTIME, false },
    { "acl", MOPT_SET, MS_POSIXACL, false },
    { "noacl", MOPT_CLEAR, MS_POSIXACL, false },
    { "iversion", MOPT_SET, MS_I_VERSION, false },
    { "noiversion", MOPT_CLEAR, MS_I_VERSION, false },
    { "silent", MOPT_SET, MS_SILENT, false },
    { "loud", MOPT_CLEAR, MS_SILENT, false },
    { "symfollow", MOPT_CLEAR, MS_NOSYMFOLLOW, false },
    { "nosymfollow", MOPT_SET, MS_NOSYMFOLLOW, false },
    { "private", MOPT_PROPAGATION, MS_PRIVATE, false },
    { "rprivate", MOPT_PROPAGATION, MS_PRIVATE | MS_REC, false },
    { "shared", MOPT_PROPAGATION, MS_SHARED, false },
    { "rshared", MOPT_PROPAGATION, MS_SHARED | MS_REC, false },
    { "slave", MOPT_PROPAGATION, MS_SLAVE, false },
    { "rslave", MOPT_PROPAGATION, MS_SLAVE | MS_REC, false },
    { "unbindable", MOPT_PROPAGATION, MS_UNBINDABLE, false },
    { "runbindable", MOPT_PROPAGATION, MS_UNBINDABLE | MS_REC, false },
    { "rro", MOPT_RSET, MOUNT_ATTR_RDONLY, false },
    { "rrw", MOPT_RCLEAR, MOUNT_ATTR_RDONLY, false },
    { "rnosuid", MOPT_RSET, MOUNT_ATTR_NOSUID, false },
    { "rsuid", MOPT_RCLEAR, MOUNT_ATTR_NOSUID, false },
    { "rnodev", MOPT_RSET, MOUNT_ATTR_NODEV, false },
    { "rdev", MOPT_RCLEAR, MOUNT_ATTR_NODEV, false },
    { "rnoexec", MOPT_RSET, MOUNT_ATTR_NOEXEC, false },
    { "rexec", MOPT_RCLEAR, MOUNT_ATTR_NOEXEC, false },
    { "rnodiratime", MOPT_RSET, MOUNT_ATTR_NODIRATIME, false },
    { "rdiratime", MOPT_RCLEAR, MOUNT_ATTR_NODIRATIME, false },
    { "rrelatime", MOPT_RSET, MOUNT_ATTR_RELATIME, true },
    { "rnorelatime", MOPT_RCLEAR, MOUNT_ATTR_RELATIME, true },
    { "rnoatime", MOPT_RSET, MOUNT_ATTR_NOATIME, true },
    { "ratime", MOPT_RCLEAR, MOUNT_ATTR_NOATIME, true },
    { "rstrictatime", MOPT_RSET, MOUNT_ATTR_STRICTATIME, true },
    { "rnostrictatime", MOPT_RCLEAR, MOUNT_ATTR_STRICTATIME, true },
    { "rnosymfollow", MOPT_RSET, MOUNT_ATTR_NOSYMFOLLOW, false },
    { "rsymfollow", MOPT_RCLEAR, MOUNT_ATTR_NOSYMFOLLOW, false },
    { "bind", MOPT_EXTENSION, 0, false },
    { "rbind", MOPT_EXTENSION, 0, false },
    { "idmap", MOPT_EXTENSION, 0, false },
    { "ridmap", MOPT_EXTENSION, 0, false },
    { "tmpcopyup", MOPT_EXTENSION, 0, false },
};

const struct mount_option *mount_option(const char *name) {
    for (size_t i = 0; i < COUNT(OPTIONS); i++) {
        if (!strcmp(OPTIONS[i].name, name)) return &OPTIONS[i];
    }
    return NULL;
}
