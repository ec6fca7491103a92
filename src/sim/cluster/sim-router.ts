import type { ExportTarget } from '../../model/catalog.js';
import { replicasOf, type Piece } from '../../model/layout.js';
import { Router, type RouterHost, type RouterOptions } from '../../volumes/router.js';

/**
 * Deliberately broken variants: a router that reads any copy, or a mirror copy an answered async
 * write may still lack (the tests check the model catches both within CI's seeds); and disks that
 * ignore write stamps (every late copy lands, and recovery copies one way, as the marks say: the
 * rule before stamps). That one fails rarely, about one seed in 300 per layout before stamps (none
 * in seeds 1-300 of server-async and client-async), so no test counts on catching it.
 */
export type ClusterVariant = 'correct' | 'read-any-copy' | 'read-lagging-copy' | 'ignore-stamps';

/** The real router, or for a read variant the same with its choice of readable copies broken. */
export function simRouter(host: RouterHost, options: RouterOptions, variant: ClusterVariant): Router {
  if (variant === 'read-any-copy' || variant === 'read-lagging-copy') return new BrokenRouter(host, options, variant);
  return new Router(host, options);
}

class BrokenRouter extends Router {
  constructor(
    host: RouterHost,
    options: RouterOptions,
    private readonly variant: 'read-any-copy' | 'read-lagging-copy',
  ) {
    super(host, options);
  }

  protected override readableNow(disk: ExportTarget, piece: Piece): number[] {
    const replicas = replicasOf(disk, piece.unit);
    if (this.variant === 'read-any-copy') return replicas;
    return replicas.filter((server) => this.suspicions.readable(this.view, server));
  }
}
