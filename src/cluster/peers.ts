import { splitHostPort } from '../transport/host-port.js';
import type { NodeRecord } from '../etcd/membership.js';
import type { NodeLinks } from '../transport/node-links.js';

/**
 * Keeps `links` connected to the nodes etcd lists: a node whose key appears gets a link (the
 * transport's dialling rule decides which side dials), one whose key is gone loses it.
 */
export function followPeers(self: string, links: NodeLinks): (nodes: ReadonlyMap<string, NodeRecord>) => void {
  const known = new Set<string>();
  return (nodes) => {
    for (const [node, record] of nodes) {
      const at = splitHostPort(record.peer);
      if (node === self || !at || at.host === '' || at.port < 1 || at.port > 65_535) continue;
      known.add(node);
      links.addPeer(node, at.host, at.port);
    }
    for (const node of known) {
      if (nodes.has(node)) continue;
      known.delete(node);
      links.removePeer(node);
    }
  };
}
