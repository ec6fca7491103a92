import { Etcd3 } from 'etcd3';
import { WhorlError } from '../errors.js';

/**
 * etcd through the npm `etcd3` client (1.1.2, maintained by Microsoft): promise-based KV,
 * transactions with compare on revisions, leases with keepalive, and watches that resume from a
 * revision after a reconnect — the primitives the control plane is built from, over etcd's own
 * gRPC API rather than a hand-written one.
 */
const dialTimeoutMs = 3_000;
const callTimeoutMs = 5_000;

/** `--etcd URL[,URL…]` as a list of endpoints; throws WHORL_BAD_ARGUMENT naming a bad one. */
export function parseEtcdUrls(value: string): string[] {
  const urls = value.split(',').map((url) => url.trim());
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `--etcd ${JSON.stringify(url)} is not a URL (e.g. http://10.0.0.1:2379)`,
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new WhorlError('WHORL_BAD_ARGUMENT', `--etcd ${url}: only http:// and https:// endpoints are supported`);
    if (!parsed.hostname || !parsed.port)
      throw new WhorlError('WHORL_BAD_ARGUMENT', `--etcd ${url}: give a host and a port (e.g. http://10.0.0.1:2379)`);
    if (parsed.pathname !== '/' || parsed.search || parsed.hash)
      throw new WhorlError(
        'WHORL_BAD_ARGUMENT',
        `--etcd ${url}: an endpoint has no path (the prefix is --etcd-prefix)`,
      );
  }
  return urls;
}

/**
 * A client of its own (its own gRPC channel: `separate` keeps a lease's keepalives off the
 * connection that carries bulk traffic). Calls time out rather than wait for an etcd that is gone.
 */
export function etcdClient(urls: readonly string[], separate = false): Etcd3 {
  return new Etcd3({
    hosts: [...urls],
    dialTimeout: dialTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: new Date(Date.now() + callTimeoutMs) }),
    ...(separate ? { grpcOptions: { 'grpc.use_local_subchannel_pool': 1 } } : {}),
  });
}

/** Resolves once etcd answers; a one-line WHORL_UNREACHABLE naming the endpoints otherwise. */
export async function checkReachable(client: Etcd3, urls: readonly string[]): Promise<void> {
  try {
    await client.maintenance.status();
  } catch (error) {
    throw new WhorlError(
      'WHORL_UNREACHABLE',
      `etcd at ${urls.join(',')} is unreachable: ${(error as Error).message.split('\n')[0]}`,
    );
  }
}
