/**
 * `range` and `floor` over a plain Map, for the in-memory storages (thread memory, simulator).
 * Linear in the map's size: these storages hold test-sized state; the LMDB storage uses its B-tree.
 */
export function rangeOf(
  map: Map<string, Uint8Array>,
  from: string,
  to: string,
  limit = Infinity,
): Array<[string, Uint8Array]> {
  const keys = [...map.keys()].filter((key) => key >= from && key < to).sort();
  return keys.slice(0, limit).map((key) => [key, map.get(key)!]);
}

export function floorOf(map: Map<string, Uint8Array>, atMost: string, above: string): [string, Uint8Array] | undefined {
  let best: string | undefined;
  for (const key of map.keys()) if (key > above && key <= atMost && (best === undefined || key > best)) best = key;
  return best === undefined ? undefined : [best, map.get(best)!];
}
