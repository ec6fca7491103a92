#!/bin/busybox sh
# PID 1 of the kernel-client test guest. Kernel command line: whorl.port=PORT whorl.conns=N.
# Attaches the host's whorl export over the real kernel NBD client, makes and checks ext4 on it,
# (Absolute paths: busybox sh prefers its own applets of the same names over PATH.)
# and prints one verdict line that the host test reads: "WHORL-VERDICT: PASS" or "...: FAIL <why>".
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "insmod $m failed"; done

PORT=10809; CONNS=1; MODE=write; TLS=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    whorl.port=*) PORT=${arg#whorl.port=} ;;
    whorl.conns=*) CONNS=${arg#whorl.conns=} ;;
    whorl.mode=*) MODE=${arg#whorl.mode=} ;;
    whorl.tls=*) TLS=${arg#whorl.tls=} ;;
  esac
done
# With whorl.tls=1 the host appended /tls (ca-cert.pem, client-cert.pem, client-key.pem) to the
# initramfs; the server's certificate names localhost, not 10.0.2.2.
TLSARGS=""
[ "$TLS" = 1 ] && TLSARGS="-certfile /tls/client-cert.pem -keyfile /tls/client-key.pem -cacertfile /tls/ca-cert.pem -tlshostname localhost"

fail() { echo "WHORL-VERDICT: FAIL $*"; poweroff -f; }
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

/usr/local/sbin/nbd-client 10.0.2.2 "$PORT" /dev/nbd0 -N default -C "$CONNS" $TLSARGS || fail "nbd-client attach"
[ "$MODE" = snapshot ] && . /snapshot.sh
/usr/local/sbin/mke2fs -q -t ext4 -F /dev/nbd0 || fail "mke2fs"
mount -t ext4 /dev/nbd0 /mnt || fail "mount"
mkdir -p /mnt/docs
for i in 1 2 3 4 5 6 7 8; do echo "whorl file $i $(date)" > /mnt/docs/file$i.txt; done
dd if=/dev/urandom of=/tmp/random.bin bs=1M count=48 2>/dev/null || fail "dd urandom"
# The host watches for this line to stop a server actor while the 48 MiB go out to whorl.
echo "WHORL-WRITING"
dd if=/tmp/random.bin of=/mnt/random.bin bs=1M conv=fsync 2>/dev/null || fail "dd to ext4"
rm /tmp/random.bin
(cd /mnt && sha256sum random.bin docs/*) > /tmp/sums
sync
umount /mnt || fail "umount"
echo 3 > /proc/sys/vm/drop_caches
mount -t ext4 /dev/nbd0 /mnt || fail "remount"
(cd /mnt && sha256sum -c /tmp/sums) > /tmp/check 2>&1 || { cat /tmp/check; fail "checksums differ after remount"; }
umount /mnt || fail "umount 2"
/usr/local/sbin/e2fsck -fn /dev/nbd0 > /tmp/fsck 2>&1 || { cat /tmp/fsck; fail "e2fsck found problems"; }
/usr/local/sbin/nbd-client -d /dev/nbd0 || fail "nbd-client -d"
echo "WHORL-VERDICT: PASS conns=$CONNS files=$(wc -l < /tmp/sums)"
poweroff -f
