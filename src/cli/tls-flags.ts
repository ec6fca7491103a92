import { tlsModes, tlsPolicy, TlsSetupError, type TlsMode, type TlsPolicy } from '../nbd/tls-policy.js';
import type { ListenAddress } from '../nbd/server.js';
import { UsageError } from './usage-error.js';

export const tlsHelp = `  --tls off|on|require    TLS for NBD clients (NBD_OPT_STARTTLS). on: offered; require: plaintext
                          clients are refused (ERR_TLS_REQD) and see no export list. Default: off
                          without credentials; with them, on when every --nbd-listen is loopback,
                          require otherwise
  --tls-certificates DIR  X.509 credentials: DIR/server-cert.pem, DIR/server-key.pem (and
                          DIR/ca-cert.pem with --tls-verify-peer), as nbdkit and qemu lay them out.
                          With --etcd, node links use them too: mutual TLS against DIR/ca-cert.pem
                          (the certificate must allow both client and server use)
  --tls-verify-peer       clients must show a certificate signed by DIR/ca-cert.pem
  --tls-psk FILE          pre-shared keys, one 'identity:hexkey' line each (GnuTLS psktool format)
`;

export const tlsOptions = {
  tls: { type: 'string' },
  'tls-certificates': { type: 'string' },
  'tls-verify-peer': { type: 'boolean' },
  'tls-psk': { type: 'string' },
} as const;

export interface TlsFlags {
  readonly tls?: string;
  readonly 'tls-certificates'?: string;
  readonly 'tls-verify-peer'?: boolean;
  readonly 'tls-psk'?: string;
}

const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The NBD front end's TLS policy from the command line; a UsageError names what is wrong. */
export function tlsFromFlags(flags: TlsFlags, addresses: readonly ListenAddress[]): TlsPolicy {
  const given = flags.tls;
  if (given !== undefined && !tlsModes.includes(given as TlsMode))
    throw new UsageError(`--tls: '${given}' is not one of ${tlsModes.join(', ')}`);
  const credentials = flags['tls-certificates'] !== undefined || flags['tls-psk'] !== undefined;
  const everyLoopback = addresses.every((address) => address.kind === 'unix' || loopback.test(address.host));
  const mode = (given as TlsMode | undefined) ?? (!credentials ? 'off' : everyLoopback ? 'on' : 'require');
  try {
    return tlsPolicy(mode, {
      ...(flags['tls-certificates'] !== undefined ? { certificatesDir: flags['tls-certificates'] } : {}),
      verifyPeer: flags['tls-verify-peer'] === true,
      ...(flags['tls-psk'] !== undefined ? { pskFile: flags['tls-psk'] } : {}),
    });
  } catch (error) {
    if (error instanceof TlsSetupError) throw new UsageError(error.message);
    throw error;
  }
}
