import { blockBytes, blockNumberMax, epochMax, gmapMax } from './block-keys.js';
import { blocksPerRequestMax, type DiskRequest } from './disk-protocol.js';
import { seqMax } from './stamps.js';
import { checkFence } from './terms.js';

/** What is wrong with a request, or undefined: checked once, at the disk actor's boundary. */
export function checkDiskRequest(body: DiskRequest): string | undefined {
  const fence = 'fence' in body ? checkFence(body.fence) : undefined;
  if (fence) return fence;
  switch (body.op) {
    case 'read':
    case 'write':
    case 'trim':
    case 'allocated': {
      const range = checkRange(body.gmap, body.epoch, body.block, body.count);
      if (range) return range;
      if (body.op !== 'write' && body.base !== undefined) {
        const bad = checkLayers(body.base);
        if (bad) return bad;
      }
      if ((body.op === 'read' || body.op === 'write') && body.handle.lengthBytes !== body.count * blockBytes) {
        return `${body.op} of ${body.count} blocks carries ${body.handle.lengthBytes} bytes, not ${body.count * blockBytes}`;
      }
      if ((body.op === 'write' || body.op === 'trim') && body.stale !== undefined && !areRegions(body.stale))
        return `stale regions ${String(body.stale)} are not region numbers`;
      if (body.op === 'write' && body.crcs !== undefined && !areChecksums(body.crcs, body.count))
        return `crcs ${String(body.crcs)} are not ${body.count} 32-bit checksums`;
      if (body.op === 'write' || body.op === 'trim') return checkStamps(body.seq, body.stamps, body.count);
      return undefined;
    }
    case 'lose':
      return checkRange(body.gmap, body.epoch, body.block, 1);
    case 'prune':
    case 'heldAlone': {
      if (!isInteger(body.gmap, gmapMax)) return `gmap ${body.gmap} is not an integer in 0..${gmapMax}`;
      if (body.op === 'heldAlone' && !isInteger(body.epoch, epochMax))
        return `epoch ${body.epoch} is not an integer in 0..${epochMax}`;
      if (
        !Array.isArray(body.live) ||
        body.live.length > layersMax ||
        body.live.some((epoch) => !isInteger(epoch, epochMax))
      )
        return `live epochs ${String(body.live)} are not up to ${layersMax} epochs`;
      return undefined;
    }
    case 'drop':
      return isInteger(body.gmap, gmapMax) ? undefined : `gmap ${body.gmap} is not an integer in 0..${gmapMax}`;
    case 'stats':
      return body.gmap === undefined || isInteger(body.gmap, gmapMax)
        ? undefined
        : `gmap ${body.gmap} is not an integer in 0..${gmapMax}`;
    case 'setMarks':
    case 'clearMarks':
      if (!isInteger(body.gmap, gmapMax)) return `gmap ${body.gmap} is not an integer in 0..${gmapMax}`;
      if (!areRegions(body.regions)) return `regions ${String(body.regions)} are not region numbers`;
      return undefined;
    default:
      return undefined;
  }
}

function checkStamps(seq: unknown, stamps: unknown, count: number): string | undefined {
  if (seq !== undefined && !isInteger(seq, seqMax)) return `seq ${String(seq)} is not an integer in 0..${seqMax}`;
  if (stamps === undefined) return undefined;
  if (seq !== undefined) return 'a request carries a seq or stamps, not both';
  const good =
    Array.isArray(stamps) &&
    stamps.length === count &&
    stamps.every(
      (stamp: { term?: unknown; seq?: unknown }) => isInteger(stamp?.term, 0xffffffff) && isInteger(stamp?.seq, seqMax),
    );
  return good ? undefined : `stamps are not ${count} { term, seq } pairs`;
}

function areChecksums(crcs: unknown, count: number): boolean {
  return (
    Array.isArray(crcs) && crcs.length === count && crcs.every((crc) => typeof crc === 'number' && (crc | 0) === crc)
  );
}

function areRegions(regions: unknown): boolean {
  return Array.isArray(regions) && regions.every((region) => isInteger(region, 2 ** 40 - 1));
}

/** Snapshots and clones of one disk chain up to this many layers. */
const layersMax = 4096;

function checkLayers(layers: unknown): string | undefined {
  if (!Array.isArray(layers) || layers.length > layersMax) return `base is not a list of up to ${layersMax} layers`;
  for (const layer of layers as Array<{ gmap?: unknown; epoch?: unknown }>) {
    if (!isInteger(layer?.gmap, gmapMax) || !isInteger(layer?.epoch, epochMax))
      return `base layer ${JSON.stringify(layer)} is not { gmap, epoch }`;
  }
  return undefined;
}

function checkRange(gmap: number, epoch: number, block: number, count: number): string | undefined {
  if (!isInteger(gmap, gmapMax)) return `gmap ${gmap} is not an integer in 0..${gmapMax}`;
  if (!isInteger(epoch, epochMax)) return `epoch ${epoch} is not an integer in 0..${epochMax}`;
  if (!isInteger(count, blocksPerRequestMax) || count < 1) return `count ${count} is not in 1..${blocksPerRequestMax}`;
  if (!isInteger(block, blockNumberMax) || block + count - 1 > blockNumberMax)
    return `blocks ${block}+${count} exceed block ${blockNumberMax}`;
  return undefined;
}

function isInteger(value: unknown, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}
