import { assert } from '../assert.js';
import type { Extent } from './backend.js';

/** Bound on extents in one BLOCK_STATUS reply; clients ask again from where the reply ended. */
export const extentsPerReplyMax = 1024;

/**
 * Makes a backend's extents fit a request: merged where neighbours agree, clipped to the request,
 * at most `countMax` of them. The result is non-empty and every length is positive.
 */
export function fitExtents(extents: readonly Extent[], lengthBytes: number, countMax: number): Extent[] {
  assert(lengthBytes > 0 && countMax > 0, 'fitExtents on an empty request');
  const fitted: Extent[] = [];
  let coveredBytes = 0;
  for (const extent of extents) {
    if (coveredBytes >= lengthBytes) break;
    if (extent.lengthBytes <= 0) continue;
    const take = Math.min(extent.lengthBytes, lengthBytes - coveredBytes);
    const last = fitted[fitted.length - 1];
    if (last && last.hole === extent.hole && last.zero === extent.zero) {
      fitted[fitted.length - 1] = { ...last, lengthBytes: last.lengthBytes + take };
    } else {
      if (fitted.length === countMax) break;
      fitted.push({ lengthBytes: take, hole: extent.hole, zero: extent.zero });
    }
    coveredBytes += take;
  }
  assert(fitted.length > 0, 'backend returned no extents');
  return fitted;
}
