{
  "targets": [
    {
      "target_name": "polis-shim",
      "type": "executable",
      "sources": [
        "src/main.c",
        "src/plan.c",
        "src/sync.c",
        "src/util.c",
        "src/ops_ns.c",
        "src/ops_mount.c",
        "src/ops_process.c",
        "src/ops_seccomp.c",
        "src/ops_console.c",
        "src/ops_exec.c",
        "src/pty_proxy.c",
        "src/ops_fifo.c"
      ],
      "cflags": [
        "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
        "-Wformat=2", "-Wshadow", "-Wvla", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wundef",
        "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fstack-clash-protection", "-fPIE"
      ],
      "cflags!": [ "-fPIC", "-Wno-unused-parameter" ],
      "ldflags": [ "-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack" ]
    },
    {
      "target_name": "polis-monitor",
      "type": "executable",
      "sources": [ "monitor/polis-monitor.c" ],
      "cflags": [
        "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
        "-Wformat=2", "-Wshadow", "-Wvla", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wundef",
        "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fstack-clash-protection", "-fPIE"
      ],
      "cflags!": [ "-fPIC", "-Wno-unused-parameter" ],
      "ldflags": [ "-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack" ]
    }
  ]
}
