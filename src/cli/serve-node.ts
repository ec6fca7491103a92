import fs from 'node:fs';
import path from 'node:path';
import { AdminServer } from '../admin/admin-server.js';
import { ClusterNode, defaultNodeDisk } from '../cluster/node.js';
import { parseEtcdUrls } from '../etcd/connect.js';
import { isWhorlError } from '../errors.js';
import type { LogFormat, Logger } from '../log.js';
import { NbdServer, type ListenAddress } from '../nbd/server.js';
import { peerTls, TlsSetupError, type TlsPolicy } from '../nbd/tls-policy.js';
import { VolumeCatalog } from '../volumes/volume-catalog.js';
import { parseHostPort } from './listen.js';
import { notifyReady } from './notify.js';
import { UsageError } from './usage-error.js';

export interface NodeServeArgs {
  readonly etcd: string;
  readonly node: string | undefined;
  readonly peerListen: string | undefined;
  readonly prefix: string;
  readonly noDisks: boolean;
  readonly diskPaths: readonly string[];
  readonly dataDir: string;
  readonly servers: number;
  readonly diskCapacityBytes: number;
  readonly defaultDiskSizeBytes: number;
  readonly threads: number;
  readonly log: Logger;
  readonly level: string;
  readonly logFormat: LogFormat;
  readonly addresses: readonly ListenAddress[];
  readonly tls: TlsPolicy;
  /** --tls-certificates DIR, if given: node links use it too (mutual TLS). */
  readonly certificatesDir: string | undefined;
  readonly listenAll: (server: NbdServer) => Promise<ListenAddress[]>;
  readonly stopping: () => Promise<void>;
}

/**
 * `whorl serve --etcd URL --node NAME --peer-listen HOST:PORT`: one node of a multi-host cluster
 * (cluster/node.ts), serving every virtual disk over NBD like the embedded daemon. A bad or
 * unreachable etcd, or a node name another live process holds, is a one-line error, exit code 2.
 */
export async function serveNode(args: NodeServeArgs): Promise<number> {
  if (args.node === undefined) throw new UsageError('--etcd needs --node NAME: the name of this node in the cluster');
  if (args.peerListen === undefined)
    throw new UsageError('--etcd needs --peer-listen HOST:PORT: where other nodes connect to this one');
  if (args.noDisks && args.diskPaths.length > 0) throw new UsageError('--no-disks and --disk: a gateway has no disks');
  if (!/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(args.prefix))
    throw new UsageError(`--etcd-prefix: '${args.prefix}' is not an etcd key prefix like /whorl`);
  const peerListen = parseHostPort('--peer-listen', args.peerListen);
  const urls = usage(() => parseEtcdUrls(args.etcd));
  const diskPaths = args.noDisks ? [] : args.diskPaths.length > 0 ? args.diskPaths : [defaultNodeDisk(args.dataDir)];
  const { log } = args;
  const peerCredentials =
    args.certificatesDir === undefined ? undefined : tlsUsage(() => peerTls(args.certificatesDir!));
  if (args.tls.mode !== 'off' && peerCredentials === undefined)
    log.warn('node links are plain TCP: only --tls-certificates (not --tls-psk) makes them TLS');
  // The admin socket lives here even on a gateway, which has no disk to create it.
  fs.mkdirSync(args.dataDir, { recursive: true });
  log.info({ node: args.node, etcd: urls, prefix: args.prefix, disks: diskPaths }, 'starting a node of the cluster');
  let fatal: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => (fatal = resolve));
  const node = await usageAsync(() =>
    ClusterNode.start({
      urls,
      prefix: args.prefix,
      node: args.node!,
      peerListen,
      ...(peerCredentials ? { peerTls: peerCredentials } : {}),
      dataDir: args.dataDir,
      diskPaths,
      create: {
        servers: args.servers,
        diskCapacityBytes: args.diskCapacityBytes,
        defaultDiskSizeBytes: args.defaultDiskSizeBytes,
        defaultReplicas: args.servers >= 2 ? 2 : 1,
      },
      log,
      logLevel: args.level,
      logFormat: args.logFormat,
      threads: args.threads,
      onFatal: (reason) => fatal(reason),
    }),
  );
  const catalog = new VolumeCatalog(node.router, node.runtime.pool);
  const server = new NbdServer(catalog, node.runtime.pool, log, args.tls);
  const admin = new AdminServer(node, catalog, log);
  await admin.listen(path.join(args.dataDir, 'admin.sock'));
  await args.listenAll(server);
  const stopping = args.stopping();
  log.info({ node: args.node, disks: node.view?.disks.map((disk) => disk.name) }, 'serving');
  notifyReady(log);
  const why = await Promise.race([stopping.then(() => undefined), lost]);
  if (why !== undefined) {
    // Its lease is gone: peers may already have moved its groups. It must not act any more, and an
    // orderly stop would still run its actors: it exits now (systemd starts it again, and it joins
    // anew; what it held is fenced by terms and copied back by resync).
    log.error({ reason: why }, 'exiting at once: this node may no longer act for the cluster');
    process.exit(1);
  }
  log.info('stopping: answering requests in flight');
  admin.close();
  await server.close();
  await node.stop();
  log.info('stopped');
  return 0;
}

function tlsUsage<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw error instanceof TlsSetupError ? new UsageError(error.message) : error;
  }
}

/** etcd's refusals at start are the command line's fault (a URL, a name): exit code 2. */
function usage<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw asUsage(error);
  }
}

async function usageAsync<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asUsage(error);
  }
}

function asUsage(error: unknown): unknown {
  if (isWhorlError(error, 'WHORL_BAD_ARGUMENT') || isWhorlError(error, 'WHORL_UNREACHABLE'))
    return new UsageError(error.message);
  return error;
}
