#!/bin/bash
# The tests drive real NBD clients and a real kernel in qemu. Say plainly what is missing.
missing=()
for pair in nbdinfo:libnbd-bin nbdcopy:libnbd-bin qemu-img:qemu-utils qemu-io:qemu-utils fio:fio \
  qemu-system-x86_64:qemu-system-x86 nbd-client:nbd-client mke2fs:e2fsprogs cpio:cpio apt-get:apt \
  systemd-analyze:systemd python3:python3; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if (( ${#missing[@]} )); then
  echo "npm test needs these Debian packages: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y nbdkit libnbd-bin qemu-utils fio nbd-client qemu-system-x86 busybox-static kmod e2fsprogs cpio systemd python3" >&2
  exit 1
fi
