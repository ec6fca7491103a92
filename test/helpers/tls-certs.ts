import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Credential directories in the layout nbdkit, qemu and libnbd read (ca-cert.pem, then
 * server-cert.pem/server-key.pem or client-cert.pem/client-key.pem), made with openssl: a CA, a
 * server certificate for 127.0.0.1 (also good as a client's, as a node's certificate must be on
 * node links), a client certificate, a client of another CA, an expired
 * server certificate, and PSK files in GnuTLS psktool's `identity:hexkey` format.
 */
export interface TestCredentials {
  readonly server: string;
  readonly client: string;
  /** A client whose CA (and so whose trust of the server) is another one. */
  readonly strangerClient: string;
  /** A server directory whose certificate expired. */
  readonly expiredServer: string;
  readonly psk: string;
  readonly wrongPsk: string;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function authority(dir: string, name: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}-cert.pem`,
    '-days',
    '30',
    '-subj',
    `/CN=${name}`,
  );
}

function signed(dir: string, ca: string, name: string, role: 'server' | 'client', days: number): void {
  const extensions = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    extensions,
    role === 'server'
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n'
      : 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n',
  );
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', ...key, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}-cert.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-CAcreateserial',
    '-out',
    `${name}-cert.pem`,
    '-days',
    String(days),
    '-extfile',
    extensions,
  );
}

/** A directory holding `files` (name in the directory ← file in `from`). */
function layout(root: string, name: string, from: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  for (const [to, source] of Object.entries(files)) fs.copyFileSync(path.join(from, source), path.join(dir, to));
  return dir;
}

export function makeCredentials(root: string): TestCredentials {
  const work = path.join(root, 'work');
  fs.mkdirSync(work, { recursive: true });
  authority(work, 'ca');
  authority(work, 'other-ca');
  signed(work, 'ca', 'server', 'server', 30);
  signed(work, 'ca', 'client', 'client', 30);
  signed(work, 'other-ca', 'stranger', 'client', 30);
  signed(work, 'ca', 'expired', 'server', -1);
  const key = randomBytes(32).toString('hex');
  fs.writeFileSync(path.join(root, 'keys.psk'), `whorl-test:${key}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(root, 'wrong.psk'), `whorl-test:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return {
    server: layout(root, 'server', work, {
      'ca-cert.pem': 'ca-cert.pem',
      'server-cert.pem': 'server-cert.pem',
      'server-key.pem': 'server-key.pem',
    }),
    client: layout(root, 'client', work, {
      'ca-cert.pem': 'ca-cert.pem',
      'client-cert.pem': 'client-cert.pem',
      'client-key.pem': 'client-key.pem',
    }),
    strangerClient: layout(root, 'stranger', work, {
      'ca-cert.pem': 'other-ca-cert.pem',
      'client-cert.pem': 'stranger-cert.pem',
      'client-key.pem': 'stranger-key.pem',
    }),
    expiredServer: layout(root, 'expired', work, {
      'ca-cert.pem': 'ca-cert.pem',
      'server-cert.pem': 'expired-cert.pem',
      'server-key.pem': 'expired-key.pem',
    }),
    psk: path.join(root, 'keys.psk'),
    wrongPsk: path.join(root, 'wrong.psk'),
  };
}
