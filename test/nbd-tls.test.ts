import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { Option, Reply } from '../src/nbd/protocol.js';
import { startDaemon, whorlBin, type Daemon } from './helpers/daemon.js';
import { temporaryDirectory } from './helpers/disk.js';
import { goData, RawClient } from './helpers/raw-client.js';
import { run, runOk } from './helpers/run.js';
import { makeCredentials, type TestCredentials } from './helpers/tls-certs.js';

/**
 * TLS with real clients (issue 31): libnbd's nbdinfo, nbdcopy and fio's nbd engine with
 * `tls-certificates=` / `tls-psk-file=`, qemu-img and qemu-io with `tls-creds-x509` /
 * `tls-creds-psk`, against the default cluster; and every refusal the spec and nbdkit give: a
 * plaintext client of `--tls require` (ERR_TLS_REQD, no export list, EXPORT_NAME closed), a client
 * of another CA, a client with no certificate under `--tls-verify-peer`, a wrong PSK and an
 * expired server certificate; each refusal the server makes is logged with the peer.
 */
const MiB = 1024 * 1024;
const root = temporaryDirectory('whorl-tls-');
let credentials: TestCredentials;
let x509: Daemon;

test.before(async () => {
  credentials = makeCredentials(root);
  x509 = await startDaemon([
    '--data-dir',
    path.join(root, 'data'),
    '--log-format',
    'json',
    '--tls',
    'require',
    '--tls-certificates',
    credentials.server,
    '--tls-verify-peer',
  ]);
});

test.after.always(() => {
  x509?.child.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

const secureUri = (daemon: Daemon, dir: string): string =>
  `nbds://127.0.0.1:${daemon.port}/default?tls-certificates=${dir}`;

test.serial('nbdinfo and nbdcopy over X.509 with a client certificate: 8 MiB out and back', async (t) => {
  const info = JSON.parse((await runOk('nbdinfo', ['--json', secureUri(x509, credentials.client)])).stdout);
  t.is(info.exports[0]['export-size'], 10 * 1024 * MiB);
  const admin = ['--data-dir', path.join(root, 'data')];
  await runOk(process.execPath, [whorlBin, 'disk', 'create', 'small', '--size', '8M', ...admin]);
  const small = `nbds://127.0.0.1:${x509.port}/small?tls-certificates=${credentials.client}`;
  const data = randomBytes(8 * MiB);
  const source = path.join(root, 'source.bin');
  const back = path.join(root, 'back.bin');
  fs.writeFileSync(source, data);
  await runOk('nbdcopy', [source, small]);
  await runOk('nbdcopy', [small, back]);
  t.true(fs.readFileSync(back).equals(data));
});

test.serial('qemu-img and qemu-io with tls-creds-x509', async (t) => {
  const object = `tls-creds-x509,id=tls0,dir=${credentials.client},endpoint=client`;
  const image = `driver=nbd,host=127.0.0.1,port=${x509.port},export=default,tls-creds=tls0`;
  const info = await runOk('qemu-img', ['info', '--object', object, '--image-opts', image]);
  t.regex(info.stdout, /virtual size: 10 GiB/);
  const io = await runOk('qemu-io', [
    '--object',
    object,
    '--image-opts',
    image,
    '-c',
    'write -P 0x5a 16M 1M',
    '-c',
    'read -P 0x5a 16M 1M',
  ]);
  t.notRegex(io.stdout + io.stderr, /Pattern verification failed/);
});

test.serial('fio verifies crc32c through its nbd engine over nbds://', async (t) => {
  // fio's engine does not let libnbd read files named in a URI; libnbd then takes its default
  // credentials, $HOME/.pki/libnbd for a user other than root.
  const home = temporaryDirectory('whorl-fio-home-');
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const pki = path.join(home, '.pki', 'libnbd');
  fs.mkdirSync(pki, { recursive: true });
  for (const file of fs.readdirSync(credentials.client))
    fs.copyFileSync(path.join(credentials.client, file), path.join(pki, file));
  for (const dir of [home, path.join(home, '.pki'), pki]) fs.chmodSync(dir, 0o755);
  for (const file of fs.readdirSync(pki)) fs.chmodSync(path.join(pki, file), 0o644);
  const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${home}`];
  const result = await runOk('setpriv', [
    ...nobody,
    'fio',
    '--name=tls',
    '--ioengine=nbd',
    `--uri=nbds://127.0.0.1:${x509.port}/default`,
    '--rw=randwrite',
    '--bs=4k',
    '--size=16M',
    '--offset=64M',
    '--iodepth=8',
    '--verify=crc32c',
    '--output-format=json',
  ]);
  const job = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))).jobs[0];
  t.is(job.error, 0);
  t.true(job.write.io_bytes >= 16 * MiB);
});

test.serial('a plaintext client of --tls require sees no export and is told TLS is required', async (t) => {
  const plain = await run('nbdinfo', ['--size', `nbd://127.0.0.1:${x509.port}/default`]);
  t.not(plain.code, 0);
  t.regex(plain.stderr, /requires TLS/);

  const client = await RawClient.connect(x509.port);
  await client.greet();
  client.sendOption(Option.List);
  t.deepEqual(
    (await client.optionReplies()).map((reply) => reply.type),
    [Reply.ErrTlsReqd],
    'LIST lists nothing before TLS',
  );
  client.sendOption(Option.Go, goData('default', []));
  t.deepEqual(
    (await client.optionReplies()).map((reply) => reply.type),
    [Reply.ErrTlsReqd],
  );
  client.sendOption(Option.ExportName, Buffer.from('default'));
  await client.closed;
  t.pass('EXPORT_NAME before TLS closes the connection');
});

test.serial('clients the X.509 server must refuse are refused, and the refusal is logged', async (t) => {
  const stranger = await run('nbdinfo', ['--size', secureUri(x509, credentials.strangerClient)]);
  t.not(stranger.code, 0, 'a client trusting another CA');
  t.regex(stranger.stderr, /certificate verification/);

  const anonymous = path.join(root, 'anonymous');
  fs.mkdirSync(anonymous, { recursive: true });
  fs.copyFileSync(path.join(credentials.client, 'ca-cert.pem'), path.join(anonymous, 'ca-cert.pem'));
  const before = x509.logs().length;
  const noCertificate = await run('nbdinfo', ['--size', secureUri(x509, anonymous)]);
  t.not(noCertificate.code, 0, 'a client with no certificate under --tls-verify-peer');
  await waitFor(() => /TLS (client certificate refused|handshake failed)/.test(x509.logs().slice(before)));
  t.regex(x509.logs().slice(before), /"peer":"127\.0\.0\.1:\d+"/);
});

test.serial('an expired server certificate is refused by the client', async (t) => {
  const expired = await startDaemon([
    '--backend',
    'memory',
    '--size',
    '64M',
    '--tls',
    'require',
    '--tls-certificates',
    credentials.expiredServer,
  ]);
  t.teardown(() => expired.child.kill('SIGKILL'));
  const result = await run('nbdinfo', ['--size', secureUri(expired, credentials.client)]);
  t.not(result.code, 0);
  t.regex(result.stderr, /certificate verification|expired/i);
});

test.serial('PSK: nbdinfo with tls-psk-file and qemu-img with tls-creds-psk; a wrong key is refused', async (t) => {
  const psk = await startDaemon([
    '--backend',
    'memory',
    '--size',
    '64M',
    '--log-format',
    'json',
    '--tls',
    'require',
    '--tls-psk',
    credentials.psk,
  ]);
  t.teardown(() => psk.child.kill('SIGKILL'));
  const uri = (file: string): string => `nbds://whorl-test@127.0.0.1:${psk.port}/default?tls-psk-file=${file}`;
  t.is((await runOk('nbdinfo', ['--size', uri(credentials.psk)])).stdout.trim(), String(64 * MiB));
  const qemuDir = path.join(root, 'qemu-psk');
  fs.mkdirSync(qemuDir, { recursive: true });
  fs.copyFileSync(credentials.psk, path.join(qemuDir, 'keys.psk'));
  const info = await runOk('qemu-img', [
    'info',
    '--object',
    `tls-creds-psk,id=tls0,dir=${qemuDir},username=whorl-test,endpoint=client`,
    '--image-opts',
    `driver=nbd,host=127.0.0.1,port=${psk.port},export=default,tls-creds=tls0`,
  ]);
  t.regex(info.stdout, /virtual size: 64 MiB/);
  const wrong = await run('nbdinfo', ['--size', uri(credentials.wrongPsk)]);
  t.not(wrong.code, 0);
  await waitFor(() => /TLS handshake failed/.test(psk.logs()));
});

test.serial('--tls on offers TLS and still serves plaintext clients', async (t) => {
  const offered = await startDaemon([
    '--backend',
    'memory',
    '--size',
    '64M',
    '--tls',
    'on',
    '--tls-certificates',
    credentials.server,
  ]);
  t.teardown(() => offered.child.kill('SIGKILL'));
  t.is((await runOk('nbdinfo', ['--size', `nbd://127.0.0.1:${offered.port}/default`])).stdout.trim(), String(64 * MiB));
  t.is((await runOk('nbdinfo', ['--size', secureUri(offered, credentials.client)])).stdout.trim(), String(64 * MiB));
});

test.serial('the admin socket is the owner’s alone (mode 600), checked when whorl starts', (t) => {
  t.is(fs.statSync(path.join(root, 'data', 'admin.sock')).mode & 0o777, 0o600);
});

test.serial('bad TLS settings: one line naming the problem, exit code 2', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--tls', 'maybe'], /--tls: 'maybe' is not one of off, on, require/],
    [['--tls', 'require'], /--tls require needs --tls-certificates DIR or --tls-psk FILE/],
    [['--tls-certificates', path.join(root, 'nowhere')], /cannot read .*nowhere\/server-key\.pem/],
    [['--tls-verify-peer'], /--tls-verify-peer needs --tls-certificates DIR/],
    [['--tls-certificates', credentials.server, '--tls-psk', credentials.psk], /give one .*not both/],
    [['--tls-psk', credentials.server], /cannot read|not 'identity:hexkey'/],
  ];
  for (const [flags, message] of cases) {
    const result = await run(process.execPath, [whorlBin, 'serve', '--backend', 'memory', ...flags]);
    t.is(result.code, 2, flags.join(' '));
    t.regex(result.stderr, message, flags.join(' '));
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the log');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
