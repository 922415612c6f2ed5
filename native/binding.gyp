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
    },
    {
      # `polis-layer`: unpacks one image layer (native/layer/layer.c says how); zlib, zstd and
      # libcrypto by their runtime sonames (headers: node's own, and zstd-min.h), no -dev package.
      "target_name": "polis-layer",
      "type": "executable",
      "sources": [ "layer/layer.c", "layer/source.c", "layer/tar.c", "layer/unpack.c", "layer/table.c" ],
      "cflags": [
        "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
        "-Wformat=2", "-Wshadow", "-Wvla", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wundef",
        "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fstack-clash-protection", "-fPIE"
      ],
      "cflags!": [ "-fPIC", "-Wno-unused-parameter" ],
      "ldflags": [ "-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack", "-Wl,--as-needed" ],
      "libraries": [ "-l:libz.so.1", "-l:libzstd.so.1", "-l:libcrypto.so.3" ]
    },
    {
      # One blob download from a registry, plain HTTP or HTTPS (native/fetch/polis-fetch.c says why).
      # sha256 and TLS from the system's libcrypto/libssl 3 (libssl3 is installed with node), through the
      # headers node ships in /usr/include/node/openssl: no -dev package needed.
      "target_name": "polis-fetch",
      "type": "executable",
      "sources": [ "fetch/polis-fetch.c", "fetch/net.c", "fetch/http.c", "fetch/session.c" ],
      "cflags": [
        "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
        "-Wformat=2", "-Wshadow", "-Wvla", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wundef",
        "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fstack-clash-protection", "-fPIE"
      ],
      "cflags!": [ "-fPIC", "-Wno-unused-parameter" ],
      "ldflags": [ "-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack" ],
      "libraries": [ "-l:libssl.so.3", "-l:libcrypto.so.3" ]
    },
    {
      # The SQLite that better-sqlite3 builds (same amalgamation, same options where they matter
      # for the file: WAL synchronous, foreign keys, double-quoted strings), for the launcher.
      "target_name": "polis-sqlite",
      "type": "static_library",
      "sources": [ "../node_modules/better-sqlite3/deps/sqlite3/sqlite3.c" ],
      "defines": [
        "SQLITE_THREADSAFE=0",
        "SQLITE_DEFAULT_CACHE_SIZE=-16000",
        "SQLITE_DEFAULT_FOREIGN_KEYS=1",
        "SQLITE_DEFAULT_MEMSTATUS=0",
        "SQLITE_DEFAULT_WAL_SYNCHRONOUS=1",
        "SQLITE_DQS=0",
        "SQLITE_LIKE_DOESNT_MATCH_BLOBS",
        "SQLITE_OMIT_DEPRECATED",
        "SQLITE_OMIT_LOAD_EXTENSION",
        "SQLITE_OMIT_PROGRESS_CALLBACK",
        "SQLITE_OMIT_SHARED_CACHE",
        "SQLITE_USE_URI=0",
        "HAVE_USLEEP=1"
      ],
      "cflags": [ "-O2", "-w" ]
    },
    {
      # `polis`: the native launcher (native/launcher/launcher.h says what it does).
      "target_name": "polis",
      "type": "executable",
      "dependencies": [ "polis-sqlite" ],
      "sources": [
        "launcher/main.c",
        "launcher/report.c",
        "launcher/store.c",
        "launcher/proc.c",
        "launcher/cgroup.c",
        "launcher/commands.c",
        "launcher/create.c",
        "launcher/create_cgroup.c",
        "launcher/create_shim.c",
        "launcher/plan_init.c", "launcher/plan_check.c", "launcher/plan_json.c", "launcher/plan_names.c",
        "launcher/plan_path.c", "launcher/plan_home.c", "launcher/plan_emit.c", "launcher/plan_mounts.c",
        "launcher/plan_devices.c", "launcher/plan_seccomp.c",
        "launcher/run_image.c",
        "launcher/warm.c"
      ],
      "include_dirs": [ "../node_modules/better-sqlite3/deps/sqlite3", "<(INTERMEDIATE_DIR)" ],
      "actions": [
        {
          "action_name": "launcher-gen",
          "inputs": [
            "../scripts/gen-launcher-schema.mjs",
            "../scripts/launcher-schema.mjs",
            "../src/state/migrations.ts",
            "../src/spec/types.ts",
            "launcher/store.c"
          ],
          "outputs": [ "<(INTERMEDIATE_DIR)/launcher-gen.h" ],
          "action": [ "node", "../scripts/gen-launcher-schema.mjs", "<(INTERMEDIATE_DIR)/launcher-gen.h" ]
        }
      ],
      # the shim's hardening: the launcher runs as root too
      "cflags": [
        "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
        "-Wformat=2", "-Wshadow", "-Wvla", "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wundef",
        "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fstack-clash-protection", "-fPIE"
      ],
      "cflags!": [ "-fPIC", "-Wno-unused-parameter" ],
      "ldflags": [ "-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack", "-Wl,--gc-sections" ]
    }
  ]
}
