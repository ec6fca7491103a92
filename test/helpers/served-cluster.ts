import type { ExecutionContext } from 'ava';
import { EmbeddedCluster, type ClusterOptions } from '../../src/cluster/embedded.js';
import { silentLogger } from '../../src/log.js';
import { NbdServer } from '../../src/nbd/server.js';
import { VolumeCatalog } from '../../src/volumes/volume-catalog.js';
import { scratchDirectory } from './scratch.js';

/**
 * An embedded cluster in this process (4 servers, a 1 GiB default disk with 2 replicas, unless
 * `options` say otherwise) served over NBD on a free loopback port; both stop with the test.
 */
export async function servedCluster(
  t: ExecutionContext,
  prefix: string,
  options: Partial<ClusterOptions> = {},
): Promise<{ cluster: EmbeddedCluster; port: number }> {
  const cluster = await EmbeddedCluster.start({
    dataDir: scratchDirectory(prefix),
    servers: 4,
    diskCapacityBytes: 1024 ** 3,
    defaultDiskSizeBytes: 1024 ** 3,
    defaultReplicas: 2,
    log: silentLogger(),
    ...options,
  });
  t.teardown(() => cluster.stop());
  const server = new NbdServer(
    new VolumeCatalog(cluster.router, cluster.runtime.pool),
    cluster.runtime.pool,
    silentLogger(),
  );
  t.teardown(() => server.close(2000));
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected a TCP address');
  return { cluster, port: bound.port };
}
