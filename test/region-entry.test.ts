import test from 'ava';
import { RegionEntry } from '../src/storage/region-entry.js';

test('a region entry stores only the blocks that hold something: 20 bytes for one, 290 for sixteen, and decodes to what was set', (t) => {
  const entry = RegionEntry.empty();
  t.true(entry.isEmpty);
  entry.setData(3, 1234, 0xdeadbeef);
  t.is(entry.encode().length, 20);
  entry.setHole(0);
  entry.setLost(15);
  const again = RegionEntry.of(entry.encode());
  t.deepEqual(
    [0, 1, 3, 15].map((i) => again.state(i)),
    ['hole', 'nothing', 'data', 'lost'],
  );
  t.is(again.slot(3), 1234);
  t.is(again.crc(3), 0xdeadbeef);
  t.deepEqual(
    [0, 3, 15].map((i) => again.takesSpace(i)),
    [false, true, true],
  );
  // Read in place (direct reads): only data answers.
  t.deepEqual(RegionEntry.dataIn(entry.encode(), 3), { slot: 1234, crc: 0xdeadbeef });
  t.deepEqual(
    [0, 1, 15].map((i) => RegionEntry.dataIn(entry.encode(), i)),
    [undefined, undefined, undefined],
  );
  for (let i = 0; i < 16; i++) again.setData(i, 100 + i, i);
  t.is(again.encode().length, 290);
  for (let i = 0; i < 16; i++) again.clear(i);
  t.true(again.isEmpty);
  t.is(again.encode().length, 2);
});

test('a value whose length does not match its bits is damaged and reads as 16 lost blocks', (t) => {
  const entry = RegionEntry.empty();
  entry.setData(2, 7, 7);
  entry.setData(9, 8, 8);
  const value = entry.encode();
  t.false(RegionEntry.isDamaged(value));
  for (const damaged of [
    value.subarray(0, value.length - 1),
    Buffer.concat([value, Buffer.alloc(8)]),
    Buffer.alloc(1),
    Buffer.alloc(0),
  ]) {
    t.true(RegionEntry.isDamaged(damaged), `${damaged.length} bytes`);
    const read = RegionEntry.of(damaged);
    t.deepEqual(
      Array.from({ length: 16 }, (_, i) => read.state(i)),
      Array(16).fill('lost'),
    );
  }
});

test('a region entry keeps the write stamp of each block, up to a 48-bit seq, and a lost block keeps its stamp', (t) => {
  const entry = RegionEntry.empty();
  entry.setData(1, 5, 5, { term: 0xfffffffe, seq: 2 ** 48 - 1 });
  entry.setHole(2, { term: 3, seq: 9 });
  entry.setData(3, 6, 6, { term: 4, seq: 1 });
  entry.setLost(3);
  const again = RegionEntry.of(entry.encode());
  t.deepEqual(again.stamp(1), { term: 0xfffffffe, seq: 2 ** 48 - 1 });
  t.deepEqual(again.stamp(2), { term: 3, seq: 9 });
  t.deepEqual(again.stamp(3), { term: 4, seq: 1 });
  t.is(again.stamp(0), undefined, 'nothing has no stamp');
  t.throws(() => entry.setData(0, 1, 1, { term: 1, seq: 2 ** 48 }), { instanceOf: RangeError });
});

test('a format-4 value (8 bytes a block, no stamp) reads with stamp zero and is rewritten stamped', (t) => {
  const legacy = Buffer.alloc(2 + 16);
  legacy.writeUInt16LE(0b101, 0);
  legacy.writeUInt32LE(77, 2);
  legacy.writeUInt32LE(0xabcdef01, 6);
  legacy.writeUInt32LE(0xfffffffe, 10);
  t.false(RegionEntry.isDamaged(legacy));
  const entry = RegionEntry.of(legacy);
  t.deepEqual([entry.state(0), entry.slot(0), entry.crc(0), entry.state(2)], ['data', 77, 0xabcdef01, 'hole']);
  t.deepEqual(entry.stamp(0), { term: 0, seq: 0 });
  t.deepEqual(RegionEntry.dataIn(legacy, 0), { slot: 77, crc: 0xabcdef01 });
  t.true(RegionEntry.holeIn(legacy, 2));
  t.is(entry.encode().length, 2 + 2 * 18);
  t.true(RegionEntry.isDamaged(legacy.subarray(0, 17)));
});

test('holes with one stamp over several blocks, and nothing else, take the uniform form: 20 bytes for a whole region', (t) => {
  const entry = RegionEntry.empty();
  for (let i = 0; i < 16; i++) entry.setHole(i, { term: 3, seq: 2 ** 40 + 7 });
  const value = entry.encode();
  t.is(value.length, 20);
  t.false(RegionEntry.isDamaged(value));
  const again = RegionEntry.of(value);
  for (let i = 0; i < 16; i++) {
    t.is(again.state(i), 'hole');
    t.deepEqual(again.stamp(i), { term: 3, seq: 2 ** 40 + 7 });
    t.true(RegionEntry.holeIn(value, i) && RegionEntry.holds(value, i));
    t.is(RegionEntry.dataIn(value, i), undefined);
  }
  // Some of the blocks: still uniform, and the others hold nothing.
  entry.clear(4);
  const some = entry.encode();
  t.is(some.length, 20);
  t.deepEqual(
    [RegionEntry.of(some).state(4), RegionEntry.holds(some, 4), RegionEntry.holeIn(some, 5)],
    ['nothing', false, true],
  );
  // A different stamp, or anything but a hole, takes the full form.
  entry.setHole(6, { term: 3, seq: 9 });
  t.is(entry.encode().length, 2 + 18 * 15);
  entry.setHole(6, { term: 3, seq: 2 ** 40 + 7 });
  entry.setData(7, 42, 42, { term: 3, seq: 2 ** 40 + 7 });
  t.is(entry.encode().length, 2 + 18 * 15);
  t.deepEqual(RegionEntry.dataIn(entry.encode(), 7), { slot: 42, crc: 42 });
  // A uniform record that points at a slot would give many blocks one slot: damaged.
  const forged = Buffer.from(value);
  forged.writeUInt32LE(12, 2);
  t.true(RegionEntry.isDamaged(forged));
});
