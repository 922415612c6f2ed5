{
  "targets": [
    {
      "target_name": "polis-shim",
      "type": "executable",
      "sources": [ "src/main.c" ],
      "cflags": [ "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration" ]
    }
  ]
}
