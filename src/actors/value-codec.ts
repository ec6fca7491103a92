import { assert, fail } from '../assert.js';

/**
 * A compact binary encoding of message values (the JSON-like subset actor bodies use), for the
 * shared-memory ring between threads. One encoder writes to one decoder, in order, so strings
 * are interned: the first occurrence defines an id, later ones send the id alone.
 *
 *   | tag | name        | followed by                                        |
 *   |-----|-------------|----------------------------------------------------|
 *   | 0   | undefined   | —                                                  |
 *   | 1   | null        | —                                                  |
 *   | 2   | false       | —                                                  |
 *   | 3   | true        | —                                                  |
 *   | 4   | int32       | 4 bytes little-endian                              |
 *   | 5   | float64     | 8 bytes little-endian                              |
 *   | 6   | string      | u32 length in UTF-16 units, 2 bytes per unit       |
 *   | 7   | string+id   | u16 id, u32 length, units: defines interned id     |
 *   | 8   | string ref  | u16 id of an interned string                       |
 *   | 9   | array       | u32 count, then count values                       |
 *   | 10  | object      | u32 count, then count × (string key, value)        |
 *
 * Anything else (functions, class instances, typed arrays, cycles) is a programmer error: payload
 * bytes travel as buffer handles, never inside a message.
 */
const internedMax = 65_535;
const internedLengthMax = 64;
const depthMax = 32;

export class ValueEncoder {
  private bytes = new Uint8Array(64 * 1024);
  private view = new DataView(this.bytes.buffer);
  private length = 0;
  private readonly interned = new Map<string, number>();

  reset(): void {
    this.length = 0;
  }

  /** The bytes written since the last reset (a view, valid until the next write). */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  value(value: unknown, depth = 0): void {
    assert(depth <= depthMax, 'message nests too deeply');
    switch (typeof value) {
      case 'undefined':
        return this.u8(0);
      case 'boolean':
        return this.u8(value ? 3 : 2);
      case 'number':
        return this.number(value);
      case 'string':
        return this.string(value);
      case 'object':
        if (value === null) return this.u8(1);
        if (Array.isArray(value)) return this.array(value, depth);
        assert(Object.getPrototypeOf(value) === Object.prototype, 'only plain objects travel in messages');
        return this.object(value as Record<string, unknown>, depth);
      default:
        assert(false, `a ${typeof value} cannot travel in a message`);
    }
  }

  u8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  number(value: number): void {
    if ((value | 0) === value && !Object.is(value, -0)) {
      this.u8(4);
      this.reserve(4);
      this.view.setInt32(this.length, value, true);
      this.length += 4;
      return;
    }
    this.u8(5);
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  string(value: string): void {
    const id = this.interned.get(value);
    if (id !== undefined) {
      this.u8(8);
      this.u16(id);
      return;
    }
    if (value.length <= internedLengthMax && this.interned.size < internedMax) {
      const next = this.interned.size;
      this.interned.set(value, next);
      this.u8(7);
      this.u16(next);
    } else {
      this.u8(6);
    }
    this.u32(value.length);
    this.reserve(value.length * 2);
    for (let i = 0; i < value.length; i++) {
      const unit = value.charCodeAt(i);
      this.bytes[this.length++] = unit & 0xff;
      this.bytes[this.length++] = unit >>> 8;
    }
  }

  private u16(value: number): void {
    this.reserve(2);
    this.bytes[this.length++] = value & 0xff;
    this.bytes[this.length++] = value >>> 8;
  }

  private array(value: unknown[], depth: number): void {
    this.u8(9);
    this.u32(value.length);
    for (const item of value) this.value(item, depth + 1);
  }

  private object(value: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(value);
    this.u8(10);
    this.u32(keys.length);
    for (const key of keys) {
      this.string(key);
      this.value(value[key], depth + 1);
    }
  }

  private reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + count));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}

export class ValueDecoder {
  private bytes: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.bytes.buffer);
  private offset = 0;
  private readonly interned: string[] = [];

  start(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = 0;
  }

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  u8(): number {
    assert(this.offset < this.bytes.length, 'message truncated');
    return this.bytes[this.offset++]!;
  }

  u32(): number {
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  value(): unknown {
    const tag = this.u8();
    switch (tag) {
      case 0:
        return undefined;
      case 1:
        return null;
      case 2:
        return false;
      case 3:
        return true;
      case 4: {
        const value = this.view.getInt32(this.offset, true);
        this.offset += 4;
        return value;
      }
      case 5: {
        const value = this.view.getFloat64(this.offset, true);
        this.offset += 8;
        return value;
      }
      case 6:
      case 7:
      case 8:
        return this.stringAfter(tag);
      case 9:
        return this.array();
      case 10:
        return this.object();
      default:
        assert(false, `unknown value tag ${tag}`);
    }
  }

  string(): string {
    return this.stringAfter(this.u8());
  }

  private stringAfter(tag: number): string {
    if (tag === 8) {
      const value = this.interned[this.u16()];
      assert(value !== undefined, 'reference to a string never defined');
      return value;
    }
    if (tag !== 6 && tag !== 7) fail(`expected a string, found tag ${tag}`);
    const id = tag === 7 ? this.u16() : -1;
    const length = this.u32();
    let value = '';
    for (let i = 0; i < length; i++) {
      value += String.fromCharCode(this.bytes[this.offset]! | (this.bytes[this.offset + 1]! << 8));
      this.offset += 2;
    }
    if (id >= 0) {
      if (id !== this.interned.length) fail(`interned id ${id} out of order`);
      this.interned.push(value);
    }
    return value;
  }

  private u16(): number {
    const value = this.bytes[this.offset]! | (this.bytes[this.offset + 1]! << 8);
    this.offset += 2;
    return value;
  }

  private array(): unknown[] {
    const count = this.u32();
    const value: unknown[] = [];
    for (let i = 0; i < count; i++) value.push(this.value());
    return value;
  }

  private object(): Record<string, unknown> {
    const count = this.u32();
    const value: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const key = this.string();
      value[key] = this.value();
    }
    return value;
  }
}
