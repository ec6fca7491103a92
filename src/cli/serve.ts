import { parseArgs } from 'node:util';
import { BufferPool } from '../actors/buffer-pool.js';
import { MemoryBackend } from '../backends/memory.js';
import { SingleExportCatalog } from '../backends/single-export.js';
import { createLogger } from '../log.js';
import { NbdServer, type ListenAddress } from '../nbd/server.js';
import { parseHostPort } from './listen.js';
import { formatSize, parseSize } from './size.js';
import { UsageError } from './usage-error.js';

export const serveHelp = `Usage: whorl serve [options]

Serve whorl virtual disks over NBD.

Options:
  --data-dir DIR          where the cluster keeps its disks (used by --backend cluster)
  --nbd-listen HOST:PORT  TCP address for NBD clients (default 127.0.0.1:10809, loopback only)
  --nbd-socket PATH       also listen on a Unix socket
  --backend memory|cluster
                          memory: one sparse in-memory export named 'default', for development
                          and protocol tests. IT LOSES ALL DATA WHEN whorl EXITS.
                          cluster: the replicated, durable virtual disks (not built yet)
                          (default: memory)
  --size SIZE             size of the memory export (default 1G; 512M, 10G, 1T ...)
  --log-level LEVEL       trace, debug, info, warn, error (default info)
  -h, --help              this text

SIGTERM or SIGINT stops whorl gracefully: requests in flight are answered, new ones get
ESHUTDOWN, then whorl exits 0.
`;

const logLevels = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'data-dir': { type: 'string' },
      'nbd-listen': { type: 'string', default: '127.0.0.1:10809' },
      'nbd-socket': { type: 'string' },
      backend: { type: 'string', default: 'memory' },
      size: { type: 'string', default: '1G' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(serveHelp);
    return 0;
  }
  const listen = parseHostPort('--nbd-listen', values['nbd-listen']!);
  const sizeBytes = parseSize('--size', values.size!);
  const level = values['log-level']!;
  if (!logLevels.has(level)) throw new UsageError(`--log-level: '${level}' is not one of ${[...logLevels].join(', ')}`);
  if (values.backend === 'cluster') {
    throw new UsageError(`--backend: 'cluster' is not available in this build yet; use --backend memory`);
  }
  if (values.backend !== 'memory') throw new UsageError(`--backend: '${values.backend}' is not one of memory, cluster`);

  const log = createLogger(level, { name: 'whorl' });
  const pool = new BufferPool();
  const backend = new MemoryBackend(sizeBytes);
  const server = new NbdServer(new SingleExportCatalog('default', backend), pool, log);
  const addresses: ListenAddress[] = [{ kind: 'tcp', ...listen }];
  if (values['nbd-socket']) addresses.push({ kind: 'unix', path: values['nbd-socket'] });
  for (const address of addresses) {
    const bound = await server.listen(address);
    log.info({ address: bound }, 'listening');
  }
  log.warn({ size: formatSize(sizeBytes) }, "serving the memory backend as export 'default': data is lost when whorl exits");
  await stopOnSignal();
  log.info('stopping: answering requests in flight');
  await server.close();
  log.info({ leasedBuffers: pool.leased }, 'stopped');
  return 0;
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
