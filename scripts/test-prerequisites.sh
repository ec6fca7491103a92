#!/bin/bash
# npm test drives real programs: NBD clients, qemu, fio, a Debian kernel in qemu. This checks that
# they are here and, on Debian or Ubuntu, installs what is missing when it can (as root, or with
# passwordless sudo): `apt-get update` once, then the missing packages, saying which and why.
# Otherwise it names them and exits 1.
#   WHORL_PREREQUISITES=dry-run  only say what is missing and what would be run; change nothing.
set -uo pipefail

# command:package:why
needs=(
  "nbdinfo:libnbd-bin:libnbd's NBD clients (nbdinfo, nbdcopy)"
  "nbdcopy:libnbd-bin:libnbd's NBD clients (nbdinfo, nbdcopy)"
  "qemu-img:qemu-utils:qemu's NBD clients (qemu-img, qemu-io)"
  "qemu-io:qemu-utils:qemu's NBD clients (qemu-img, qemu-io)"
  "fio:fio:fio's nbd engine"
  "qemu-system-x86_64:qemu-system-x86:the guest whose kernel attaches a disk with nbd-client"
  "nbd-client:nbd-client:the kernel client the guest runs"
  "mke2fs:e2fsprogs:ext4 in the guest"
  "cpio:cpio:the guest's initramfs"
  "systemd-analyze:systemd:checking the systemd units"
  "python3:python3:a stand-in for systemd's notify socket"
  "etcd:etcd-server:the multi-host control plane's store (the tests start their own)"
)
missing=()
reasons=()
add() {
  local package=$1 why=$2 known
  for known in "${missing[@]}"; do [[ $known == "$package" ]] && return; done
  missing+=("$package")
  reasons+=("  $package: $why")
}
for need in "${needs[@]}"; do
  IFS=: read -r command package why <<<"$need"
  command -v "$command" >/dev/null 2>&1 || add "$package" "$why"
done
[[ -x /bin/busybox ]] || add busybox-static "the guest's init"
(( ${#missing[@]} == 0 )) && exit 0

echo "npm test needs these Debian packages: ${missing[*]}" >&2
printf '%s\n' "${reasons[@]}" >&2
if [[ $EUID -eq 0 ]]; then sudo=(); else sudo=(sudo -n); fi
install=("${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}")
can_install=false
if command -v apt-get >/dev/null 2>&1 && { [[ $EUID -eq 0 ]] || sudo -n true 2>/dev/null; }; then can_install=true; fi

if [[ ${WHORL_PREREQUISITES:-} == dry-run ]]; then
  if $can_install; then echo "would run: ${sudo[*]}${sudo[*]:+ }apt-get update -qq; ${install[*]}" >&2
  else echo "would stop: cannot install them here (not root, no passwordless sudo, or no apt-get)" >&2; fi
  exit 0
fi
if ! $can_install; then
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing them now (apt-get update, then apt-get install)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq && "${install[@]}" >/dev/null || {
  echo "npm test: installing ${missing[*]} failed; install them and run npm test again" >&2
  exit 1
}
