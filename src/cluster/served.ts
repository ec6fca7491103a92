import type { EmbeddedCluster } from './embedded.js';

/**
 * What the admin socket needs of a running cluster, whether the embedded one (embedded.ts) or one
 * node of a multi-host cluster (node.ts).
 */
export type ServedCluster = Pick<
  EmbeddedCluster,
  'router' | 'runtime' | 'servers' | 'view' | 'mirrorLagBytes' | 'stopServer' | 'startServer'
> & {
  /** The node whose disk server `id` is (multi-host clusters only). */
  nodeOf?(id: number): string | undefined;
};
