import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

/**
 * TLS for NBD clients, as nbdkit and qemu-nbd offer it (NBD_OPT_STARTTLS, NBD.md):
 *
 *   | mode    | STARTTLS  | before TLS: GO, INFO, LIST, STRUCTURED_REPLY, meta contexts      |
 *   |---------|-----------|-----------------------------------------------------------------|
 *   | off     | ERR_UNSUP | answered                                                         |
 *   | on      | upgrades  | answered (a client may stay in plaintext)                        |
 *   | require | upgrades  | ERR_TLS_REQD; EXPORT_NAME (which has no error reply) closes      |
 *
 * Credentials are X.509 (a directory in the layout nbdkit and qemu use: ca-cert.pem,
 * server-cert.pem, server-key.pem; with `verifyPeer` a client must show a certificate the CA
 * signed) or pre-shared keys (a file of `identity:hexkey` lines, GnuTLS psktool's format), not
 * both: OpenSSL serves PSK clients only in TLS 1.2 (its TLS 1.3 keys need a hash per key), and a
 * GnuTLS client offered TLS 1.3 with certificates fails its PSK handshake.
 */
export type TlsMode = 'off' | 'on' | 'require';
export const tlsModes: readonly TlsMode[] = ['off', 'on', 'require'];

export interface TlsPolicy {
  readonly mode: TlsMode;
  /** What the server side of each upgraded connection is made with (undefined when off). */
  readonly options?: tls.TLSSocketOptions;
}

export interface TlsCredentials {
  readonly certificatesDir?: string;
  readonly verifyPeer?: boolean;
  readonly pskFile?: string;
}

/** A credential file or setting that cannot be used; the message names it. */
export class TlsSetupError extends Error {}

/** Checks and loads what `mode` needs; throws TlsSetupError naming the offending file or flag. */
export function tlsPolicy(mode: TlsMode, credentials: TlsCredentials): TlsPolicy {
  const { certificatesDir, verifyPeer = false, pskFile } = credentials;
  if (verifyPeer && certificatesDir === undefined)
    throw new TlsSetupError('--tls-verify-peer needs --tls-certificates DIR (its ca-cert.pem signs the clients)');
  if (mode === 'off') return { mode };
  if (certificatesDir === undefined && pskFile === undefined)
    throw new TlsSetupError(`--tls ${mode} needs --tls-certificates DIR or --tls-psk FILE`);
  if (certificatesDir !== undefined && pskFile !== undefined)
    throw new TlsSetupError('--tls-certificates and --tls-psk: give one (X.509 or pre-shared keys), not both');
  return { mode, options: pskFile !== undefined ? preSharedKeys(pskFile) : certificates(certificatesDir!, verifyPeer) };
}

/** A credential file's bytes; TlsSetupError names the flag and the file when it cannot be read. */
function readCredential(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new TlsSetupError(`${flag}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** One context for every connection, made (and so checked) at start. */
function secureContext(flag: string, options: tls.SecureContextOptions): tls.SecureContext {
  try {
    return tls.createSecureContext({ minVersion: 'TLSv1.2', ...options });
  } catch (error) {
    throw new TlsSetupError(`${flag}: ${(error as Error).message}`);
  }
}

function certificates(dir: string, verifyPeer: boolean): tls.TLSSocketOptions {
  const read = (name: string): Buffer => readCredential('--tls-certificates', path.join(dir, name));
  const context = { key: read('server-key.pem'), cert: read('server-cert.pem') };
  return {
    isServer: true,
    secureContext: secureContext(
      `--tls-certificates ${dir}`,
      verifyPeer ? { ...context, ca: read('ca-cert.pem') } : context,
    ),
    ...(verifyPeer ? { requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/** The longest PSK identity GnuTLS and OpenSSL take. */
const identityBytesMax = 128;

function preSharedKeys(file: string): tls.TLSSocketOptions {
  const text = readCredential('--tls-psk', file).toString('utf8');
  const keys = new Map<string, Buffer>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const colon = line.indexOf(':');
    const identity = line.slice(0, colon);
    const hex = line.slice(colon + 1).trim();
    if (colon <= 0 || Buffer.byteLength(identity) > identityBytesMax || !/^([0-9a-fA-F]{2})+$/.test(hex))
      throw new TlsSetupError(`--tls-psk ${file} line ${index + 1}: not 'identity:hexkey'`);
    keys.set(identity, Buffer.from(hex, 'hex'));
  });
  if (keys.size === 0) throw new TlsSetupError(`--tls-psk ${file}: no 'identity:hexkey' line`);
  return {
    isServer: true,
    // OpenSSL offers PSK suites only when named.
    secureContext: secureContext(`--tls-psk ${file}`, { ciphers: 'PSK', maxVersion: 'TLSv1.2' }),
    pskCallback: (_socket: tls.TLSSocket, identity: string) => keys.get(identity) ?? null,
  } as tls.TLSSocketOptions;
}

/**
 * A node's credentials for node links (transport/node-links.ts), from its --tls-certificates DIR:
 * its certificate serves both ends of a link, so it must allow client and server use.
 */
export function peerTls(dir: string): tls.SecureContextOptions {
  const read = (name: string): Buffer => readCredential('--tls-certificates', path.join(dir, name));
  return { key: read('server-key.pem'), cert: read('server-cert.pem'), ca: read('ca-cert.pem') };
}
