import type { NodeRecord } from '../etcd/membership.js';
import type { NodeLinks } from '../transport/node-links.js';

/** "host:port" (an IPv6 host in brackets) as its parts; undefined when it is not one. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

/**
 * Keeps `links` connected to the nodes etcd lists: a node whose key appears gets a link (the
 * transport's dialling rule decides which side dials), one whose key is gone loses it.
 */
export function followPeers(self: string, links: NodeLinks): (nodes: ReadonlyMap<string, NodeRecord>) => void {
  const known = new Set<string>();
  return (nodes) => {
    for (const [node, record] of nodes) {
      const at = parseHostPort(record.peer);
      if (node === self || !at) continue;
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
