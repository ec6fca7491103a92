import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { daemonNodeFlags } from '../src/cli/node-flags.js';
import { prettyLine } from '../src/log.js';
import { startDaemon, whorlBin } from './helpers/daemon.js';
import { run } from './helpers/run.js';
import { scratchDirectory } from './helpers/scratch.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const prerequisites = path.join(root, 'scripts/test-prerequisites.sh');
const packageVersion = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Commands the prerequisite check looks for, as its `needs` table names them. */
const commands = [
  'nbdinfo',
  'nbdcopy',
  'qemu-img',
  'qemu-io',
  'fio',
  'qemu-system-x86_64',
  'nbd-client',
  'mke2fs',
  'cpio',
  'systemd-analyze',
  'python3',
  'etcd',
];

/**
 * A PATH holding a stub of every command but `without`, and stubs of apt-get (recording its
 * arguments in `apt.log`) and sudo: the check sees a machine that lacks exactly those commands.
 */
function pathWithout(without: readonly string[]): { dir: string; aptLog: string } {
  const dir = scratchDirectory('whorl-path-');
  const aptLog = path.join(dir, 'apt.log');
  const stub = (name: string, body: string): void =>
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  for (const command of commands) if (!without.includes(command)) stub(command, 'exit 0');
  stub('apt-get', `echo "$*" >> '${aptLog}'`);
  stub('sudo', '[ "$1" = -n ] && shift\nexec "$@"');
  return { dir, aptLog };
}

/** busybox-static is checked by path (/bin/busybox), so it is missing wherever that file is. */
const busyboxMissing = fs.existsSync('/bin/busybox') ? [] : ['busybox-static'];

test('the prerequisite check in dry-run mode lists exactly the missing packages and changes nothing', async (t) => {
  const { dir, aptLog } = pathWithout(['fio', 'qemu-io']);
  const result = await run('/bin/bash', [prerequisites], { env: { PATH: dir, WHORL_PREREQUISITES: 'dry-run' } });
  t.is(result.code, 0);
  const listed = /npm test needs these Debian packages: (.*)/.exec(result.stderr)?.[1]?.trim().split(' ');
  t.deepEqual(listed, ['qemu-utils', 'fio', ...busyboxMissing]);
  t.regex(result.stderr, /qemu-utils: qemu's NBD clients/);
  t.regex(
    result.stderr,
    /would run: .*apt-get update -qq; .*apt-get install -y -qq --no-install-recommends qemu-utils fio/,
  );
  t.false(fs.existsSync(aptLog), 'apt-get was not run');
});

test('the prerequisite check installs what is missing, apt-get update once, then the packages', async (t) => {
  const { dir, aptLog } = pathWithout(['nbdcopy']);
  const result = await run('/bin/bash', [prerequisites], { env: { PATH: dir } });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /installing them now/);
  t.deepEqual(fs.readFileSync(aptLog, 'utf8').trim().split('\n'), [
    'update -qq',
    `install -y -qq --no-install-recommends libnbd-bin${busyboxMissing.map((name) => ` ${name}`).join('')}`,
  ]);
});

test('with every program present the prerequisite check says nothing and installs nothing', async (t) => {
  const { dir, aptLog } = pathWithout([]);
  const result = await run('/bin/bash', [prerequisites], { env: { PATH: dir } });
  t.is(result.code, 0);
  if (busyboxMissing.length === 0) {
    t.is(result.stderr, '');
    t.false(fs.existsSync(aptLog));
  } else {
    // This machine lacks /bin/busybox, which the check looks for by path: that alone is installed.
    t.regex(fs.readFileSync(aptLog, 'utf8'), /install -y -qq --no-install-recommends busybox-static\n$/);
  }
});

test('whorl --version and whorl version print the package and on-disk format versions', async (t) => {
  for (const args of [['--version'], ['version']]) {
    const result = await run(process.execPath, [whorlBin, ...args]);
    t.is(result.code, 0);
    t.is(result.stdout, `whorl ${packageVersion} (disk format 6)\n`);
  }
});

test('a log line reads as time, level, where, message and fields', (t) => {
  const line = JSON.stringify({
    level: 40,
    time: Date.UTC(2026, 11, 7, 9, 30, 5, 42),
    pid: 7,
    hostname: 'h',
    name: 'whorl',
    thread: 1,
    actor: 'group-2',
    msg: 'server state',
    server: 1,
    why: 'no heartbeat for 1.5 s',
  });
  t.regex(
    prettyLine(line),
    /^\d\d:\d\d:\d\d\.042 WARN {2}thread 1 group-2: server state server=1 why="no heartbeat for 1\.5 s"$/,
  );
  t.is(prettyLine('not json'), 'not json');
});

test('on a terminal whorl serve greets with how to attach and logs one human line per event', async (t) => {
  const dataDir = scratchDirectory('whorl-greet-');
  const serve = [process.execPath, ...daemonNodeFlags, whorlBin, 'serve', '--data-dir', dataDir];
  const command = [...serve, '--nbd-listen', '127.0.0.1:0', '--default-disk-size', '1G', '--disk-capacity', '2G'];
  // script(1) runs whorl on a pseudo-terminal; its process group is stopped with SIGTERM.
  const child = spawn('script', ['-qfec', command.join(' '), '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (out += text));
  const exited = new Promise((resolve) => child.on('close', resolve));
  t.teardown(() => {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  for (let waited = 0; !out.includes('More disks:') && waited < 60_000; waited += 100)
    await new Promise((resolve) => setTimeout(resolve, 100));
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
  const port = /NBD: +127\.0\.0\.1:(\d+)/.exec(out)?.[1];
  t.truthy(port, out);
  t.true(out.includes(`sudo nbd-client 127.0.0.1 ${port} /dev/nbd0 -N default`), out);
  t.true(out.includes(`nbdinfo nbd://127.0.0.1:${port}/default`), out);
  t.regex(out, /disks: +default \(1G\)/);
  t.true(out.includes(`data:       ${dataDir}`), out);
  t.regex(out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}serving disks=\["default"\]/m);
  t.regex(out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}thread \d control: server state /m);
  t.false(/^\{/m.test(out), 'no JSON line on a terminal');
  t.is(out.split('whorl is serving.').length, 2, 'the greeting comes once');
});

test('piped, whorl serve logs JSON lines and no greeting', async (t) => {
  const daemon = await startDaemon([
    '--data-dir',
    scratchDirectory('whorl-json-'),
    '--default-disk-size',
    '1G',
    '--disk-capacity',
    '2G',
  ]);
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  const lines = daemon.logs().trim().split('\n');
  t.true(lines.length > 5);
  for (const line of lines) t.notThrows(() => JSON.parse(line), line);
  t.false(daemon.logs().includes('whorl is serving.'));
});
