import net from 'node:net';
import { rm } from 'node:fs/promises';
import type { BufferPool } from '../actors/buffer-pool.js';
import type { Logger } from '../log.js';
import type { ExportCatalog } from './backend.js';
import { Connection } from './connection.js';
import type { TlsPolicy } from './tls-policy.js';

/** Connections one server holds at once; more are closed as soon as they are accepted. */
export const connectionsMax = 1024;

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** The NBD front end: listens on TCP and/or Unix sockets and serves a catalog of exports. */
export class NbdServer {
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<Connection>();
  private readonly unixPaths: string[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly catalog: ExportCatalog,
    private readonly pool: BufferPool,
    private readonly log: Logger,
    private readonly tls: TlsPolicy = { mode: 'off' },
  ) {}

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Starts listening; resolves with the bound address (the port when 0 was asked for). */
  async listen(address: ListenAddress): Promise<ListenAddress> {
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    if (address.kind === 'unix') await rm(address.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (address.kind === 'tcp') server.listen(address.port, address.host, done);
      else server.listen(address.path, done);
    });
    server.on('error', (error) => this.log.error({ err: error }, 'listener error'));
    this.listeners.push(server);
    if (address.kind === 'unix') {
      this.unixPaths.push(address.path);
      return address;
    }
    const bound = server.address() as net.AddressInfo;
    return { kind: 'tcp', host: bound.address, port: bound.port };
  }

  /**
   * Stops accepting, lets every connection finish what is in flight (new requests get ESHUTDOWN),
   * then closes them. Idempotent: a second call returns the same promise.
   */
  close(graceMs = 10_000): Promise<void> {
    this.stopping ??= this.stop(graceMs);
    return this.stopping;
  }

  private async stop(graceMs: number): Promise<void> {
    // Not waiting for close's callback: connections are counted by this class (see accept).
    for (const server of this.listeners) server.close();
    await Promise.all([...this.connections].map((connection) => connection.shutdown(graceMs)));
    await Promise.all(this.unixPaths.map((path) => rm(path, { force: true })));
  }

  private accept(socket: net.Socket): void {
    // The connection re-wraps the accepted socket (socket-reader.ts), so net.Server's own count
    // of connections never goes down; the bound is enforced here instead.
    if (this.stopping || this.connections.size >= connectionsMax) {
      socket.destroy();
      return;
    }
    const log = this.log.child({ peer: `${socket.remoteAddress ?? 'unix'}:${socket.remotePort ?? ''}` });
    const connection = new Connection(socket, this.catalog, this.pool, log, this.tls);
    this.connections.add(connection);
    void connection.done.then(() => this.connections.delete(connection));
    log.debug('connected');
    void connection.run();
  }
}
