#!/bin/bash
# Builds a tiny Linux guest for the kernel-client test: a Debian kernel and an initramfs holding
# busybox, nbd-client, mke2fs and e2fsck. Output: $OUT/vmlinuz and $OUT/initrd.img (cached).
# Needs: apt-get (linux-image-amd64), busybox-static, nbd-client, e2fsprogs, cpio.
set -euo pipefail
OUT=${1:?usage: build.sh OUTPUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Test files run at once may both want the guest: one builds it, the other waits and finds it cached.
exec 9>"$OUT/.build.lock"
flock 9
if [[ -f "$OUT/vmlinuz" && -f "$OUT/initrd.img" && "$OUT/initrd.img" -nt "$HERE/init.sh" && "$OUT/initrd.img" -nt "$HERE/snapshot.sh" ]]; then exit 0; fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n "$KPKG" ]] || { echo "build.sh: cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
(cd "$WORK" && apt-get download "$KPKG" >/dev/null 2>&1) || { echo "build.sh: apt-get download $KPKG failed" >&2; exit 1; }
dpkg -x "$WORK"/linux-image-*.deb "$WORK/kernel"
KVER=${KPKG#linux-image-}
MODS="$WORK/kernel/lib/modules/$KVER/kernel"

ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/local/sbin,etc,proc,sys,dev,tmp,mnt,lib/modules,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$ROOT/bin/busybox"
for tool in nbd-client mke2fs e2fsck; do
  path=$(command -v "$tool")
  cp "$path" "$ROOT/usr/local/sbin/$tool"
  for lib in $(ldd "$path" | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done
done
cp /etc/mke2fs.conf "$ROOT/etc/" 2>/dev/null || true
for module in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover drivers/net/net_failover \
  drivers/net/virtio_net drivers/block/nbd lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4; do
  cp "$MODS/$module.ko" "$ROOT/lib/modules/"
  echo "$(basename "$module").ko" >> "$ROOT/lib/modules/order"
done
cp "$HERE/init.sh" "$ROOT/init"
cp "$HERE/snapshot.sh" "$ROOT/snapshot.sh"
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initrd.img.tmp"
cp "$WORK/kernel/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
