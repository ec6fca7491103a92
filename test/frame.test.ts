import test from 'ava';
import { ValueEncoder } from '../src/actors/value-codec.js';
import { encodeFrame, FrameReader, frameTypes, type FrameStart } from '../src/transport/frame.js';
import { Prng } from '../src/prng.js';

interface Read {
  readonly meta: unknown;
  readonly payloads: Buffer[];
}

/** Frames of varied shapes: no payloads, several, empty ones, metas of different sizes. */
function stream(): { bytes: Buffer; expected: Read[] } {
  const encoder = new ValueEncoder();
  const parts: Buffer[] = [];
  const expected: Read[] = [];
  for (let i = 0; i < 40; i++) {
    const meta = { i, note: 'x'.repeat((i * 37) % 300), list: [i, -i, `n${i % 5}`] };
    const payloads = Array.from({ length: i % 4 }, (_, p) => Buffer.alloc(p === 1 ? 0 : 100 + i * 13 + p, i + p));
    parts.push(
      encodeFrame(
        encoder,
        frameTypes.envelope,
        meta,
        payloads.map((payload) => payload.length),
      ),
      ...payloads,
    );
    expected.push({ meta, payloads });
  }
  return { bytes: Buffer.concat(parts), expected };
}

function reader(into: Read[]): FrameReader {
  return new FrameReader({
    start: (frame: FrameStart) => {
      const payloads = frame.payloadLengths.map((length) => Buffer.alloc(length));
      into.push({ meta: frame.meta, payloads });
      return payloads;
    },
    end: () => undefined,
  });
}

test('frames come out whole however the stream is cut: in one chunk, byte by byte, at random', (t) => {
  const { bytes, expected } = stream();
  const whole: Read[] = [];
  reader(whole).push(bytes);
  t.deepEqual(whole, expected);

  const bytewise: Read[] = [];
  const byByte = reader(bytewise);
  for (let i = 0; i < bytes.length; i++) byByte.push(bytes.subarray(i, i + 1));
  t.deepEqual(bytewise, expected);

  const prng = new Prng(7);
  for (let round = 0; round < 20; round++) {
    const got: Read[] = [];
    const cut = reader(got);
    for (let at = 0; at < bytes.length;) {
      const length = 1 + Math.floor(prng.next() * 700);
      cut.push(bytes.subarray(at, at + length));
      at += length;
    }
    t.deepEqual(got, expected, `round ${round}`);
  }
});

test('a malformed head throws, whether it arrives whole or in pieces', (t) => {
  const bad = Buffer.alloc(32);
  bad.writeUInt32LE(0x12345678, 0);
  t.throws(() => reader([]).push(bad), { message: /bad magic/ });
  const split = reader([]);
  t.throws(() => {
    for (let i = 0; i < bad.length; i++) split.push(bad.subarray(i, i + 1));
  });
  const huge = encodeFrame(new ValueEncoder(), frameTypes.envelope, null, []);
  huge.writeUInt32LE(2 * 1024 * 1024, 8);
  t.throws(() => reader([]).push(huge), { message: /frame meta of/ });
});
