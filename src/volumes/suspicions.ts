import { readable, type ClusterView } from '../model/catalog.js';

/**
 * Servers this reader must not read from although its view may still say `up`: a write answered
 * with `missed: [server]` left that server's copy behind. A suspicion ends only after a newer view
 * has shown the server not up and then up again (it went through resync).
 */
export class Suspicions {
  private readonly waiting = new Map<number, 'down' | 'up'>();

  missed(servers: readonly number[] | undefined): void {
    for (const server of servers ?? []) this.waiting.set(server, 'down');
  }

  onView(view: ClusterView): void {
    for (const [server, phase] of this.waiting) {
      const state = view.servers[server]?.state;
      if (phase === 'down' && state !== 'up') this.waiting.set(server, 'up');
      else if (phase === 'up' && state === 'up') this.waiting.delete(server);
    }
  }

  readable(view: ClusterView | undefined, server: number): boolean {
    return readable(view?.servers[server]?.state) && !this.waiting.has(server);
  }
}
