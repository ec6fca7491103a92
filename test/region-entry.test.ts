import test from 'ava';
import { RegionEntry } from '../src/storage/region-entry.js';

test('a region entry stores only the blocks that hold something: 10 bytes for one, 130 for sixteen, and decodes to what was set', (t) => {
  const entry = RegionEntry.empty();
  t.true(entry.isEmpty);
  entry.setData(3, 1234, 0xdeadbeef);
  t.is(entry.encode().length, 10);
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
  t.is(again.encode().length, 130);
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
