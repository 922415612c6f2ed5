#!/usr/bin/env bash
# Make a minimal busybox root filesystem at $1 from Debian's busybox-static.
# Used by the demo bundle (bundles/busybox) and by the integration tests.
set -euo pipefail
dest=${1:?usage: make-rootfs.sh DIR}
busybox=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  echo "installing busybox-static" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >&2
fi
mkdir -p "$dest"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var,run}
cp "$busybox" "$dest/bin/busybox"
chmod 0755 "$dest/bin/busybox"
for applet in $("$dest/bin/busybox" --list); do
  [ -e "$dest/bin/$applet" ] || ln -s busybox "$dest/bin/$applet"
done
chmod 1777 "$dest/tmp"
cat > "$dest/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$dest/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
echo polis > "$dest/etc/hostname"
