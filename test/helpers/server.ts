import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool } from '../../src/actors/buffer-pool.js';
import { EmbeddedCluster } from '../../src/cluster/embedded.js';
import { duplicationProtocols, type DuplicationProtocol } from '../../src/model/catalog.js';
import { VolumeCatalog } from '../../src/volumes/volume-catalog.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import { SingleExportCatalog } from '../../src/backends/single-export.js';
import { silentLogger } from '../../src/log.js';
import type { Backend, ExportCatalog } from '../../src/nbd/backend.js';
import { NbdServer } from '../../src/nbd/server.js';

export interface TestServer {
  readonly port: number;
  readonly uri: string;
  readonly server: NbdServer;
  readonly pool: BufferPool;
  readonly backend: Backend;
  close(): Promise<void>;
}

/** A real NBD server on a real loopback socket, in this process, serving one export 'default'. */
export async function startServer(backend: Backend = new MemoryBackend(64 * 1024 * 1024)): Promise<TestServer> {
  const pool = new BufferPool({ maxBytes: 256 * 1024 * 1024 });
  return listenOn(new SingleExportCatalog('default', backend), pool, backend, async () => undefined);
}

/** Serves `catalog` on a free loopback port; `close` stops the server, then runs `after`. */
async function listenOn(
  catalog: ExportCatalog,
  pool: BufferPool,
  backend: Backend,
  after: () => Promise<void>,
): Promise<TestServer> {
  const server = new NbdServer(catalog, pool, silentLogger());
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected a TCP address');
  return {
    port: bound.port,
    uri: `nbd://127.0.0.1:${bound.port}/default`,
    server,
    pool,
    backend,
    close: async () => {
      await server.close(2000);
      await after();
    },
  };
}

export type BackendKind = 'memory' | 'cluster' | `mirror ${DuplicationProtocol}`;
/**
 * The real-client suites run against each: the memory disk, a replicated cluster disk in chained
 * declustering, and a mirror-layout disk with each duplication protocol.
 */
export const backendKinds: readonly BackendKind[] = [
  'memory',
  'cluster',
  ...duplicationProtocols.map((protocol) => `mirror ${protocol}` as const),
];

/**
 * A real NBD server on loopback serving 'default' from either a memory disk or a whole embedded
 * cluster (4 servers, 2 replicas, LMDB disks in a temporary directory) in this process.
 */
export async function startServerOf(kind: BackendKind, sizeBytes: number): Promise<TestServer> {
  if (kind === 'memory') return startServer(new MemoryBackend(sizeBytes));
  const dataDir = await mkdtemp(join(tmpdir(), 'whorl-suite-'));
  const cluster = await EmbeddedCluster.start({
    dataDir,
    servers: 4,
    diskCapacityBytes: 1024 ** 3,
    defaultDiskSizeBytes: sizeBytes,
    defaultReplicas: 2,
    log: silentLogger(),
  });
  if (kind !== 'cluster') {
    // The export 'default' becomes a mirror disk (primary group 0-1, backup group 2-3).
    const protocol = kind.slice('mirror '.length) as DuplicationProtocol;
    const replaced = [
      await cluster.router.control({ op: 'delete', name: 'default' }),
      await cluster.router.control({
        op: 'create',
        name: 'default',
        sizeBytes,
        replicas: 2,
        stripeBytes: 65536,
        mirror: 2,
        protocol,
      }),
    ];
    for (const reply of replaced) if (!reply.ok) throw new Error(`mirror ${protocol} disk: ${reply.message}`);
  }
  const catalog = new VolumeCatalog(cluster.router, cluster.runtime.pool);
  return listenOn(catalog, cluster.runtime.pool, catalog.open('default')!, async () => {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
}
