// A `node --require` hook for tests: at its exit, a node process writes the built-in modules it
// loaded (process.moduleLoadList: "NativeModule tls", "Internal Binding tls_wrap" …) to
// $POLIS_TEST_MODULE_LOG.<pid>, so that a test can tell from outside which of node's stacks a
// command used (e.g. that a pull over HTTPS never loaded node's TLS).
const file = process.env.POLIS_TEST_MODULE_LOG;
if (file) {
  process.on("exit", () => {
    require("node:fs").writeFileSync(`${file}.${process.pid}`, process.moduleLoadList.join("\n"));
  });
}
