#!/usr/bin/env bash
# The newcomer's demo: make the busybox bundle and run a container from it with polis.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=bundles/busybox
[ -x "$bundle/rootfs/bin/busybox" ] || bash scripts/make-rootfs.sh "$bundle/rootfs"
id="polis-demo-$$"
exec node dist/polis.mjs run --bundle "$bundle" "$id"
