import test from 'ava';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { run, runOk } from './helpers/run.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const guestDir = join(repo, '.cache', 'guest');

/**
 * Boots a Debian kernel under qemu (software emulation) whose init attaches whorl's export with
 * the stock nbd-client, makes ext4, writes files and 16 MiB of random data, remounts after
 * dropping caches, verifies checksums, runs e2fsck -fn and detaches (test/guest/init.sh).
 */
async function bootGuest(port: number, connections: number): Promise<string> {
  const result = await run('qemu-system-x86_64', [
    '-accel', 'tcg', '-m', '512', '-smp', '1', '-nographic', '-no-reboot',
    '-kernel', join(guestDir, 'vmlinuz'), '-initrd', join(guestDir, 'initrd.img'),
    '-append', `console=ttyS0 panic=-1 quiet whorl.port=${port} whorl.conns=${connections}`,
    '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
  ], { timeoutMs: 150_000 });
  return result.stdout + result.stderr;
}

test.before(async () => {
  await runOk('bash', [join(repo, 'test', 'guest', 'build.sh'), guestDir], { timeoutMs: 300_000 });
});

for (const connections of [1, 2]) {
  test.serial(`the Linux kernel client (nbd-client -C ${connections}) runs ext4 on a whorl export`, async (t) => {
    t.timeout(180_000);
    const daemon = await startDaemon(['--size', '1G']);
    const console = await bootGuest(daemon.port, connections);
    const verdict = /WHORL-VERDICT: (PASS|FAIL)[^\r\n]*/.exec(console)?.[0];
    t.is(verdict, `WHORL-VERDICT: PASS conns=${connections} files=9`, console.slice(-3000));
    const handshakes = daemon.logs().match(/transmission started/g)?.length ?? 0;
    t.is(handshakes, connections, 'one handshake per kernel connection');
    daemon.child.kill('SIGTERM');
    t.is((await daemon.exited).code, 0);
  });
}
