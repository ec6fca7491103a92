import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { temporaryDirectory } from './disk.js';
import { runOk } from './run.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const guestDir = join(repo, '.cache', 'guest');

/**
 * Boots a Debian kernel under qemu (software emulation) whose init attaches whorl's default disk
 * with the stock nbd-client, makes ext4, writes files and 48 MiB of random data (fsync), remounts
 * after dropping caches, verifies checksums, runs e2fsck -fn and detaches (test/guest/init.sh).
 * `whileWriting` runs when the guest starts writing the 48 MiB. `tls`: a client credential
 * directory (ca-cert.pem, client-cert.pem, client-key.pem) the guest's nbd-client attaches with.
 */
export function bootGuest(
  port: number,
  connections: number,
  whileWriting: () => Promise<void>,
  mode = 'write',
  /** How to start qemu (in a network namespace, for instance); by default here. */
  start: (command: string, args: string[], options: SpawnOptions) => ChildProcess = spawn,
  tls?: string,
): Promise<string> {
  const initrd = tls ? withCredentials(tls) : join(guestDir, 'initrd.img');
  const qemu = start(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-m',
      '512',
      '-smp',
      '1',
      '-nographic',
      '-no-reboot',
      '-kernel',
      join(guestDir, 'vmlinuz'),
      '-initrd',
      initrd,
      '-append',
      `console=ttyS0 panic=-1 quiet whorl.port=${port} whorl.conns=${connections} whorl.mode=${mode} whorl.tls=${tls ? 1 : 0}`,
      '-netdev',
      'user,id=n0',
      '-device',
      'virtio-net-pci,netdev=n0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let console = '';
  let triggered = false;
  let action: Promise<void> = Promise.resolve();
  const timer = setTimeout(() => qemu.kill('SIGKILL'), 240_000);
  const onOutput = (text: string): void => {
    console += text;
    if (!triggered && (console.includes('WHORL-WRITING') || console.includes('WHORL-SNAPSHOT'))) {
      triggered = true;
      action = whileWriting();
    }
  };
  qemu.stdout!.setEncoding('utf8').on('data', onOutput);
  qemu.stderr!.setEncoding('utf8').on('data', onOutput);
  return new Promise((resolve, reject) => {
    qemu.on('error', reject);
    qemu.on('close', () => {
      clearTimeout(timer);
      action.then(() => resolve(console), reject);
    });
  });
}

/**
 * The guest's initramfs with `dir`'s credentials appended as /tls: the kernel unpacks
 * concatenated archives in order.
 */
function withCredentials(dir: string): string {
  const work = temporaryDirectory('whorl-guest-tls-');
  fs.mkdirSync(join(work, 'tls'));
  for (const file of ['ca-cert.pem', 'client-cert.pem', 'client-key.pem'])
    fs.copyFileSync(join(dir, file), join(work, 'tls', file));
  const archive = execFileSync('bash', ['-c', 'find tls | cpio -o -H newc --quiet | gzip -1'], { cwd: work });
  const combined = join(work, 'initrd.img');
  fs.writeFileSync(combined, Buffer.concat([fs.readFileSync(join(guestDir, 'initrd.img')), archive]));
  return combined;
}

/** Builds (or finds cached) the guest's kernel and initramfs. */
export async function buildGuest(): Promise<void> {
  await runOk('bash', [join(repo, 'test', 'guest', 'build.sh'), guestDir], { timeoutMs: 300_000 });
}
