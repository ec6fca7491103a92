# Sourced by init.sh with whorl.mode=snapshot (nbd0 holds the disk 'default').
# ext4 with files synced, then "WHORL-SNAPSHOT": the host takes default@guest and clones it to
# 'guestclone' while this guest keeps writing and syncing. Once the snapshot export attaches
# (nbd1, read-only) the guest writes after.txt; the clone (nbd2) must equal the snapshot byte for
# byte, replay its journal in e2fsck, then pass e2fsck -fn, and hold exactly the files synced
# before the snapshot and not after.txt.
/usr/local/sbin/mke2fs -q -t ext4 -F /dev/nbd0 || fail "mke2fs"
mount -t ext4 /dev/nbd0 /mnt || fail "mount"
mkdir -p /mnt/docs
for i in 1 2 3 4 5 6 7 8; do echo "whorl file $i $(date)" > /mnt/docs/file$i.txt; done
dd if=/dev/urandom of=/mnt/docs/random.bin bs=1M count=8 2>/dev/null || fail "dd"
sync
(cd /mnt && sha256sum docs/*) > /tmp/sums
echo "WHORL-SNAPSHOT"
late=0
while ! /usr/local/sbin/nbd-client 10.0.2.2 "$PORT" /dev/nbd1 -N default@guest -R >/dev/null 2>&1; do
  late=$((late + 1))
  [ "$late" -gt 600 ] && fail "snapshot export default@guest never appeared"
  echo "late $late" > /mnt/late$late.txt
  sync
  sleep 0.1
done
echo "after the snapshot" > /mnt/after.txt
sync
[ "$(blockdev --getro /dev/nbd1)" = 1 ] || fail "the snapshot device is not read-only"
dd if=/dev/zero of=/dev/nbd1 bs=4096 count=1 oflag=direct 2>/dev/null && fail "a write to the snapshot succeeded"
# The host makes the clone right after the snapshot.
tries=0
while ! /usr/local/sbin/nbd-client 10.0.2.2 "$PORT" /dev/nbd2 -N guestclone >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -gt 600 ] && fail "attach the clone"
  sleep 0.1
done
cmp /dev/nbd1 /dev/nbd2 || fail "the clone differs from the snapshot"
/usr/local/sbin/e2fsck -fy /dev/nbd2 > /tmp/fsck 2>&1
/usr/local/sbin/e2fsck -fn /dev/nbd2 > /tmp/fsck 2>&1 || { cat /tmp/fsck; fail "e2fsck found problems in the clone of the snapshot"; }
mkdir -p /clone
mount -t ext4 /dev/nbd2 /clone || fail "mount the clone"
(cd /clone && sha256sum -c /tmp/sums) > /tmp/check 2>&1 || { cat /tmp/check; fail "files synced before the snapshot differ in it"; }
[ -e /clone/after.txt ] && fail "after.txt (written after the snapshot) is in it"
umount /clone || fail "umount clone"
umount /mnt || fail "umount"
for dev in nbd2 nbd1 nbd0; do /usr/local/sbin/nbd-client -d /dev/$dev || fail "nbd-client -d $dev"; done
echo "WHORL-VERDICT: PASS snapshot files=$(wc -l < /tmp/sums) late=$late"
poweroff -f
