import { BufferPool } from '../../src/actors/buffer-pool.js';
import { MemoryBackend } from '../../src/backends/memory.js';
import { SingleExportCatalog } from '../../src/backends/single-export.js';
import { silentLogger } from '../../src/log.js';
import type { Backend } from '../../src/nbd/backend.js';
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
  const server = new NbdServer(new SingleExportCatalog('default', backend), pool, silentLogger());
  const bound = await server.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
  if (bound.kind !== 'tcp') throw new Error('expected a TCP address');
  return {
    port: bound.port,
    uri: `nbd://127.0.0.1:${bound.port}/default`,
    server,
    pool,
    backend,
    close: () => server.close(2000),
  };
}
