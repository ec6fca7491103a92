import path from 'node:path';
import { parseArgs } from 'node:util';
import { BufferPool } from '../actors/buffer-pool.js';
import { AdminServer } from '../admin/admin-server.js';
import { MemoryBackend } from '../backends/memory.js';
import { SingleExportCatalog } from '../backends/single-export.js';
import { EmbeddedCluster, mirrorLagBytesDefault, mirrorLagBytesMax } from '../cluster/embedded.js';
import { createLogger, defaultLogFormat, logFormats, type LogFormat, type Logger } from '../log.js';
import { NbdServer, type ListenAddress } from '../nbd/server.js';
import { capacityBytesMax } from '../storage/block-census.js';
import { regionBytes } from '../storage/block-keys.js';
import { VolumeCatalog } from '../volumes/volume-catalog.js';
import { greeting } from './greeting.js';
import { parseHostPort } from './listen.js';
import { notifyReady } from './notify.js';
import { serveNode } from './serve-node.js';
import { formatSize, parseSize } from './size.js';
import { tlsFromFlags, tlsHelp, tlsOptions } from './tls-flags.js';
import { UsageError } from './usage-error.js';

export const serveHelp = `Usage: whorl serve [options]

Serve whorl virtual disks over NBD.

Options:
  --data-dir DIR          where the cluster keeps its disks and control database
                          (default ./whorl-data); the admin socket is DIR/admin.sock
  --nbd-listen HOST:PORT  TCP address for NBD clients (default 127.0.0.1:10809, loopback only)
  --nbd-socket PATH       also listen on a Unix socket
${tlsHelp}  --backend cluster|memory
                          cluster: the replicated, durable virtual disks (default)
                          memory: one sparse in-memory export named 'default', for development
                          and protocol tests. IT LOSES ALL DATA WHEN whorl EXITS.
  --servers N             server actors, each with one disk (default 4, or one per --disk; fixed when DIR is created)
  --disk PATH             a physical disk (a directory on its own file system) for one server actor;
                          repeat it, one per disk; default: DIR/servers/<i> (fixed when DIR is created)
  --etcd URL[,URL…]       be a node of a multi-host cluster whose state is in this etcd
  --node NAME             (with --etcd) this node's name, unique in the cluster
  --peer-listen HOST:PORT (with --etcd) where other nodes connect to this one
  --etcd-prefix PREFIX    (with --etcd) the cluster's keys in etcd (default /whorl)
  --no-disks              (with --etcd) a gateway: serves every disk over NBD, stores nothing
                          With --etcd, --servers is the size of the ring the first node creates and
                          each node's --disk paths (default DIR/disk) claim servers of it.
  --default-disk-size SIZE
                          size of the thin disk 'default' made when DIR is new (default 10G)
  --threads N             worker threads for the server, disk and replica-group actors, 0 to 64;
                          0 runs them on the main thread, beside the NBD front end and the peer
                          links (default 2 on one host, 0 for a node with --etcd: BENCHMARKS.md)
  --disk-capacity SIZE    capacity of each server's disk, 64M to 8191G (default 64G; fixed when DIR is created)
  --mirror-lag SIZE       per mirror pair, bytes of async-protocol writes answered before the
                          second copy has them (default 1M; a multiple of 64K; 0 makes
                          server-async and client-async wait for both copies)
  --size SIZE             size of the memory export (default 1G; 512M, 10G, 1T ...)
  --log-level LEVEL       trace, debug, info, warn, error (default info)
  --log-format FORMAT     pretty: one short line per event; json: JSON lines (default pretty on
                          a terminal, json when stderr is not one or under systemd)
  -h, --help              this text

SIGTERM or SIGINT stops whorl gracefully: requests in flight are answered, new ones get
ESHUTDOWN, every disk is flushed and closed, then whorl exits 0.
`;

const logLevels = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'data-dir': { type: 'string', default: 'whorl-data' },
      'nbd-listen': { type: 'string', default: '127.0.0.1:10809' },
      'nbd-socket': { type: 'string' },
      backend: { type: 'string', default: 'cluster' },
      servers: { type: 'string' },
      disk: { type: 'string', multiple: true },
      etcd: { type: 'string' },
      node: { type: 'string' },
      'peer-listen': { type: 'string' },
      'etcd-prefix': { type: 'string', default: '/whorl' },
      'no-disks': { type: 'boolean' },
      threads: { type: 'string' },
      'default-disk-size': { type: 'string', default: '10G' },
      'disk-capacity': { type: 'string', default: '64G' },
      'mirror-lag': { type: 'string', default: formatSize(mirrorLagBytesDefault) },
      size: { type: 'string', default: '1G' },
      'log-level': { type: 'string', default: 'info' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...tlsOptions,
    },
  });
  if (values.help) {
    process.stdout.write(serveHelp);
    return 0;
  }
  const listen = parseHostPort('--nbd-listen', values['nbd-listen']!);
  const level = values['log-level']!;
  if (!logLevels.has(level)) throw new UsageError(`--log-level: '${level}' is not one of ${[...logLevels].join(', ')}`);
  const format = values['log-format'] ?? defaultLogFormat();
  if (!logFormats.includes(format as LogFormat))
    throw new UsageError(`--log-format: '${format}' is not one of ${logFormats.join(', ')}`);
  const logFormat = format as LogFormat;
  if (values.backend !== 'memory' && values.backend !== 'cluster')
    throw new UsageError(`--backend: '${values.backend}' is not one of cluster, memory`);
  const diskPaths = parseDiskPaths(values.disk ?? []);
  const multiHost = values.etcd !== undefined;
  const serversGiven = values.servers ?? String((multiHost ? 0 : diskPaths.length) || serversDefault);
  const servers = Number(serversGiven);
  if (!/^\d+$/.test(serversGiven) || servers < 1 || servers > 64)
    throw new UsageError(`--servers: '${serversGiven}' is not a whole number from 1 to 64`);
  if (!multiHost && diskPaths.length > 0 && servers !== diskPaths.length)
    throw new UsageError(`--servers ${servers} with ${diskPaths.length} --disk paths: each server has one disk`);
  const threadsGiven = values.threads ?? (multiHost ? '0' : '2');
  const threads = Number(threadsGiven);
  if (!/^\d+$/.test(threadsGiven) || threads > 64)
    throw new UsageError(`--threads: '${threadsGiven}' is not a whole number from 0 to 64`);
  const memorySizeBytes = parseSize('--size', values.size!);
  const defaultDiskSizeBytes = parseSize('--default-disk-size', values['default-disk-size']!);
  if (defaultDiskSizeBytes % 4096 !== 0 || defaultDiskSizeBytes === 0)
    throw new UsageError(`--default-disk-size: '${values['default-disk-size']}' is not a positive multiple of 4 KiB`);
  const diskCapacityBytes = parseSize('--disk-capacity', values['disk-capacity']!);
  if (diskCapacityBytes < 64 * 1024 * 1024 || diskCapacityBytes > capacityBytesMax) {
    throw new UsageError(
      `--disk-capacity: '${values['disk-capacity']}' is not from the 64M minimum to the ${formatSize(capacityBytesMax)} maximum`,
    );
  }
  const mirrorLagBytes = values['mirror-lag']!.trim() === '0' ? 0 : parseSize('--mirror-lag', values['mirror-lag']!);
  if (mirrorLagBytes % regionBytes !== 0 || mirrorLagBytes > mirrorLagBytesMax) {
    throw new UsageError(
      `--mirror-lag: '${values['mirror-lag']}' is not a multiple of 64K from 0 to ${formatSize(mirrorLagBytesMax)}`,
    );
  }

  const log = createLogger(level, { name: 'whorl' }, logFormat);
  // The greeting is for a person at a terminal: not for journald, a pipe or a log file.
  const greet = logFormat === 'pretty' && process.stderr.isTTY === true;
  const addresses: ListenAddress[] = [{ kind: 'tcp', ...listen }];
  if (values['nbd-socket']) addresses.push({ kind: 'unix', path: values['nbd-socket'] });
  const tls = tlsFromFlags(values, addresses);

  if (values.backend === 'memory') {
    const pool = new BufferPool();
    const catalog = new SingleExportCatalog('default', new MemoryBackend(memorySizeBytes));
    const server = new NbdServer(catalog, pool, log, tls);
    await listenAll(server, addresses, log);
    const stopping = stopOnSignal();
    log.warn(
      { size: formatSize(memorySizeBytes) },
      "serving the memory backend as export 'default': data is lost when whorl exits",
    );
    notifyReady(log);
    await stopping;
    log.info('stopping: answering requests in flight');
    await server.close();
    log.info({ leasedBuffers: pool.leased }, 'stopped');
    return 0;
  }

  const dataDir = path.resolve(values['data-dir']!);
  if (values.etcd !== undefined)
    return serveNode({
      etcd: values.etcd,
      node: values.node,
      peerListen: values['peer-listen'],
      prefix: values['etcd-prefix']!,
      noDisks: values['no-disks'] === true,
      diskPaths,
      dataDir,
      servers,
      diskCapacityBytes,
      defaultDiskSizeBytes,
      threads,
      log,
      level,
      logFormat,
      addresses,
      tls,
      certificatesDir: values['tls-certificates'],
      listenAll: (server) => listenAll(server, addresses, log),
      stopping: stopOnSignal,
    });
  for (const flag of ['node', 'peer-listen', 'no-disks'] as const)
    if (values[flag] !== undefined)
      throw new UsageError(`--${flag} is for a node of a multi-host cluster: give --etcd URL`);
  log.info(
    { dataDir, servers, threads, ...(diskPaths.length > 0 ? { disks: diskPaths } : {}) },
    'starting the cluster',
  );
  const cluster = await EmbeddedCluster.start({
    dataDir,
    servers,
    ...(diskPaths.length > 0 ? { diskPaths } : {}),
    threads,
    diskCapacityBytes,
    defaultDiskSizeBytes,
    defaultReplicas: servers >= 2 ? 2 : 1,
    mirrorLagBytes,
    log,
    logLevel: level,
    logFormat,
  });
  const catalog = new VolumeCatalog(cluster.router, cluster.runtime.pool);
  const server = new NbdServer(catalog, cluster.runtime.pool, log, tls);
  const admin = new AdminServer(cluster, catalog, log);
  await admin.listen(path.join(dataDir, 'admin.sock'));
  const bound = await listenAll(server, addresses, log);
  // Handlers first: a SIGTERM sent on reading "serving" (systemd, a test) must find them in place,
  // or the default action kills whorl without the graceful stop.
  const stopping = stopOnSignal();
  log.info({ disks: cluster.view?.disks.map((disk) => disk.name), admin: path.join(dataDir, 'admin.sock') }, 'serving');
  if (greet) process.stderr.write(greeting({ addresses: bound, disks: cluster.view?.disks ?? [], dataDir }));
  notifyReady(log);
  await stopping;
  log.info('stopping: answering requests in flight');
  admin.close();
  await server.close();
  await cluster.stop();
  log.info('stopped');
  return 0;
}

/** Listens on every address; returns them as bound (a port 0 becomes the port chosen). */
async function listenAll(server: NbdServer, addresses: ListenAddress[], log: Logger): Promise<ListenAddress[]> {
  const bound: ListenAddress[] = [];
  for (const address of addresses) {
    bound.push(await server.listen(address));
    log.info({ address: bound.at(-1) }, 'listening');
  }
  return bound;
}

function stopOnSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

const serversDefault = 4;

/** `--disk PATH`, repeated: absolute paths, each given once. */
function parseDiskPaths(given: readonly string[]): string[] {
  const paths = given.map((disk) => path.resolve(disk));
  const twice = paths.find((disk, i) => paths.indexOf(disk) !== i);
  if (twice !== undefined) throw new UsageError(`--disk ${twice} is given twice: each server needs a disk of its own`);
  if (paths.length > 64) throw new UsageError(`${paths.length} --disk paths: at most 64 servers`);
  return paths;
}
