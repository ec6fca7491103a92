/** The key by which a group tracks a region: "<gmap>:<region>". */
export function regionKey(gmap: number, region: number): string {
  return `${gmap}:${region}`;
}

export function parseRegionKey(key: string): { gmap: number; region: number } {
  const [gmap, region] = key.split(':').map(Number) as [number, number];
  return { gmap, region };
}
