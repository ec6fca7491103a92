/**
 * A set of (global map, region) pairs under small string scopes (a mark kind, or a server and a
 * kind), held as numbers: a region costs a small integer in a Set rather than a key string. With
 * a server out every region written gets a stale mark, and the mark caches grow with them: as key
 * strings they took ~0.4 KiB per region (BENCHMARKS.md, daemon memory with a server out).
 */
export class RegionSet {
  private readonly scopes = new Map<string, Map<number, Set<number>>>();

  has(scope: string, gmap: number, region: number): boolean {
    return this.scopes.get(scope)?.get(gmap)?.has(region) ?? false;
  }

  add(scope: string, gmap: number, region: number): void {
    let gmaps = this.scopes.get(scope);
    if (!gmaps) this.scopes.set(scope, (gmaps = new Map()));
    let regions = gmaps.get(gmap);
    if (!regions) gmaps.set(gmap, (regions = new Set()));
    regions.add(region);
  }

  /** Returns whether the pair was there. */
  delete(scope: string, gmap: number, region: number): boolean {
    const gmaps = this.scopes.get(scope);
    const regions = gmaps?.get(gmap);
    if (!regions?.delete(region)) return false;
    if (regions.size === 0) gmaps!.delete(gmap);
    if (gmaps!.size === 0) this.scopes.delete(scope);
    return true;
  }

  /** The pairs of one scope, by global map then region. */
  list(scope: string): Array<{ gmap: number; region: number }> {
    const gmaps = this.scopes.get(scope);
    if (!gmaps) return [];
    return [...gmaps.keys()]
      .sort((a, b) => a - b)
      .flatMap((gmap) => [...gmaps.get(gmap)!].sort((a, b) => a - b).map((region) => ({ gmap, region })));
  }

  /** Every scope that holds a pair. */
  get scopeNames(): string[] {
    return [...this.scopes.keys()];
  }
}
