import test from 'ava';
import { ByteQueue } from '../src/nbd/byte-queue.js';

test('take copies across chunk boundaries into the target and consumes', (t) => {
  const queue = new ByteQueue();
  queue.push(Buffer.from([1, 2, 3]));
  queue.push(Buffer.from([4, 5]));
  queue.push(Buffer.from([6, 7, 8, 9]));
  const target = Buffer.alloc(6);
  t.is(queue.take(target, 1, 5), 5);
  t.deepEqual([...target], [0, 1, 2, 3, 4, 5]);
  t.is(queue.length, 4);
  t.deepEqual([...queue.read(4)], [6, 7, 8, 9]);
  t.is(queue.length, 0);
});

test('peek reads in place when one chunk holds the bytes, via scratch otherwise', (t) => {
  const queue = new ByteQueue();
  const chunk = Buffer.from([1, 2, 3, 4, 5, 6]);
  queue.push(chunk);
  const scratch = Buffer.alloc(8);
  const inPlace = queue.peek(4, scratch);
  t.is(inPlace.buffer, chunk.buffer, 'no copy');
  queue.skip(4);
  queue.push(Buffer.from([7, 8]));
  const joined = queue.peek(4, scratch);
  t.is(joined.buffer, scratch.buffer);
  t.deepEqual([...joined], [5, 6, 7, 8]);
  t.is(queue.length, 4, 'peek does not consume');
});

test('skip consumes many chunks and reports what it skipped', (t) => {
  const queue = new ByteQueue();
  for (let i = 0; i < 200; i++) queue.push(Buffer.alloc(10, i));
  t.is(queue.skip(1995), 1995);
  t.deepEqual([...queue.read(5)], [199, 199, 199, 199, 199]);
  t.is(queue.skip(10), 0);
});
