import type { Etcd3 } from 'etcd3';
import { WhorlError } from '../errors.js';

/**
 * The cluster's shape in etcd, beside membership (membership.ts):
 *
 *   | key               | value                                         | written                     |
 *   |-------------------|-----------------------------------------------|-----------------------------|
 *   | PREFIX/config     | {servers, diskCapacityBytes,                  | once, by the first node     |
 *   |                   |  defaultDiskSizeBytes, defaultReplicas}       |                             |
 *   | PREFIX/servers/ID | {server, node, disk}: whose disk is server ID | once, when a node claims it |
 *
 * Server ids are slots of the ring chained declustering places units on (0 … servers − 1), fixed
 * when the cluster is created; each node claims one per disk the first time it starts and keeps
 * them (a restarted node finds its own). A slot no node has claimed is a server that is down.
 */
export interface SharedConfig {
  readonly servers: number;
  readonly diskCapacityBytes: number;
  readonly defaultDiskSizeBytes: number;
  readonly defaultReplicas: 1 | 2;
}

export interface SlotRecord {
  readonly server: number;
  readonly node: string;
  readonly disk: string;
}

/** The cluster's config, written by this node when it is the first (`fresh`). */
export async function ensureConfig(
  client: Etcd3,
  prefix: string,
  wanted: SharedConfig,
): Promise<{ config: SharedConfig; fresh: boolean }> {
  const key = `${prefix}/config`;
  const result = await client
    .if(key, 'Create', '==', 0)
    .then(client.put(key).value(JSON.stringify(wanted)))
    .else(client.get(key))
    .commit();
  if (result.succeeded) return { config: wanted, fresh: true };
  const value = result.responses[0]?.response_range?.kvs[0]?.value?.toString();
  return { config: JSON.parse(value ?? 'null') as SharedConfig, fresh: false };
}

export async function loadSlots(client: Etcd3, prefix: string): Promise<Map<number, SlotRecord>> {
  const slots = new Map<number, SlotRecord>();
  const loaded = await client.getAll().prefix(`${prefix}/servers/`).strings();
  for (const value of Object.values(loaded)) {
    const slot = JSON.parse(value) as SlotRecord;
    slots.set(slot.server, slot);
  }
  return slots;
}

/**
 * This node's servers: the slots it claimed before (its disks must be the same), or new ones for
 * `disks`, the lowest free ids first. Throws a one-line WhorlError when they differ or none is free.
 */
export async function claimSlots(
  client: Etcd3,
  prefix: string,
  node: string,
  disks: readonly string[],
  servers: number,
): Promise<SlotRecord[]> {
  const slots = await loadSlots(client, prefix);
  const mine = [...slots.values()].filter((slot) => slot.node === node).sort((a, b) => a.server - b.server);
  if (mine.length > 0) {
    const had = mine.map((slot) => slot.disk);
    if (had.length !== disks.length || had.some((disk, i) => disk !== disks[i]))
      throw new WhorlError(
        'WHORL_DISK_INVALID',
        `node ${node} joined with --disk ${had.join(' --disk ') || '(none)'}; this start gives ${disks.length === 0 ? 'none' : `--disk ${disks.join(' --disk ')}`} (its servers' disks cannot move)`,
      );
    return mine;
  }
  const claimed: SlotRecord[] = [];
  for (const disk of disks) {
    let server = 0;
    for (;;) {
      while (slots.has(server)) server += 1;
      if (server >= servers) {
        const owners = [...new Set([...slots.values()].map((slot) => slot.node))].join(', ');
        throw new WhorlError(
          'WHORL_NO_SPACE',
          `the cluster's ${servers} servers are all taken (nodes ${owners}): no server left for --disk ${disk}`,
        );
      }
      const record: SlotRecord = { server, node, disk };
      const key = `${prefix}/servers/${server}`;
      const result = await client
        .if(key, 'Create', '==', 0)
        .then(client.put(key).value(JSON.stringify(record)))
        .commit();
      slots.set(server, record);
      if (!result.succeeded) continue;
      claimed.push(record);
      break;
    }
  }
  return claimed;
}
