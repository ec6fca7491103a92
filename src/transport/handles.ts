import type { BufferHandle } from '../actors/buffer-pool.js';

/**
 * Buffer handles name memory of one node's pool: between nodes each travels as a payload of its
 * frame (frame.ts) and the body carries `{payload: i}` in its place. A handle is recognised by its
 * shape (exactly slab, offsetBytes, lengthBytes, generation), wherever it sits in a body.
 */
const depthMax = 32;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** How many own enumerable keys `value` has, without building their list. */
function keyCount(value: Record<string, unknown>): number {
  let count = 0;
  for (const key in value) if (Object.hasOwn(value, key)) count += 1;
  return count;
}

export function isHandle(value: unknown): value is BufferHandle {
  return (
    isRecord(value) &&
    typeof value.slab === 'number' &&
    typeof value.offsetBytes === 'number' &&
    typeof value.lengthBytes === 'number' &&
    typeof value.generation === 'number' &&
    keyCount(value) === 4
  );
}

function isPlaceholder(value: unknown): value is { payload: number } {
  return isRecord(value) && Number.isInteger(value.payload) && keyCount(value) === 1;
}

/** Whether a handle sits anywhere in `value` (no allocation: most bodies carry none). */
export function holdsHandle(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > depthMax) return false;
  if (Array.isArray(value)) return value.some((item) => holdsHandle(item, depth + 1));
  if (isHandle(value)) return true;
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && Object.hasOwn(value, key) && holdsHandle(item, depth + 1)) return true;
  }
  return false;
}

/** The body with each handle replaced by its placeholder, and the handles in payload order. */
export function takeHandles(body: unknown): { body: unknown; handles: BufferHandle[] } {
  if (!holdsHandle(body)) return { body, handles: [] };
  const handles: BufferHandle[] = [];
  const walk = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value !== 'object' || depth > depthMax) return value;
    if (isHandle(value)) {
      handles.push(value);
      return { payload: handles.length - 1 };
    }
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = walk(item, depth + 1);
    return out;
  };
  return { body: walk(body, 0), handles };
}

/** The body with each placeholder replaced by `handles[i]`; throws on a placeholder out of range. */
export function putHandles(body: unknown, handles: readonly BufferHandle[]): unknown {
  if (handles.length === 0) return body;
  const walk = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value !== 'object' || depth > depthMax) return value;
    if (isPlaceholder(value)) {
      const handle = handles[value.payload];
      if (!handle) throw new Error(`payload ${value.payload} of ${handles.length} named in a message`);
      return handle;
    }
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = walk(item, depth + 1);
    return out;
  };
  return walk(body, 0);
}
