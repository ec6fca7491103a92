import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { whorlBin } from './helpers/daemon.js';
import { run } from './helpers/run.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const installedBin = '/usr/local/bin/whorl';

/**
 * The units as shipped, checked by `systemd-analyze verify`. Where whorl is not installed (a
 * fresh clone), the unit's /usr/local/bin/whorl is pointed at this checkout's CLI first, since
 * verify also checks that ExecStart exists and is executable.
 */
test('systemd/whorl.service and whorl-attach@.service pass systemd-analyze verify', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-units-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A fresh checkout's compiled CLI is not executable: stand in a small launcher for it.
  const launcher = path.join(dir, 'whorl');
  fs.writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} ${whorlBin} "$@"\n`, { mode: 0o755 });
  const bin = fs.existsSync(installedBin) ? installedBin : launcher;
  const service = fs.readFileSync(path.join(repo, 'systemd', 'whorl.service'), 'utf8');
  t.regex(service, /^Type=notify$/m);
  t.regex(service, /^Restart=on-failure$/m);
  t.regex(service, /--data-dir \/var\/lib\/whorl/);
  fs.writeFileSync(path.join(dir, 'whorl.service'), service.replaceAll(installedBin, bin));
  const attach = fs.readFileSync(path.join(repo, 'systemd', 'whorl-attach@.service'), 'utf8');
  t.regex(attach, /nbd-client .* -N %i -t \d+/);
  fs.writeFileSync(path.join(dir, 'whorl-attach@default.service'), attach);
  const result = await run('systemd-analyze', [
    'verify',
    path.join(dir, 'whorl.service'),
    path.join(dir, 'whorl-attach@default.service'),
  ]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr.trim(), '', result.stderr);
});

test('whorl serve tells systemd it is ready through NOTIFY_SOCKET', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whorl-notify-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'notify.sock');
  // A datagram socket standing in for systemd's notify socket.
  const listener = await run(
    'python3',
    [
      '-c',
      `
import socket, subprocess
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(${JSON.stringify(socketPath)})
s.settimeout(60)
p = subprocess.Popen(['node', ${JSON.stringify(whorlBin)}, 'serve', '--backend', 'memory', '--nbd-listen', '127.0.0.1:0'], env={'NOTIFY_SOCKET': ${JSON.stringify(socketPath)}, 'PATH': '/usr/bin:/bin:/usr/sbin:/sbin'}, stderr=subprocess.DEVNULL)
try:
    data = s.recv(4096).decode()
    print(data)
finally:
    p.terminate()
    p.wait()
`,
    ],
    { timeoutMs: 90_000 },
  );
  t.is(listener.code, 0, listener.stderr);
  t.regex(listener.stdout, /READY=1/);
});
