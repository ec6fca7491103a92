import test from 'ava';
import { SlotAllocator } from '../src/storage/slot-allocator.js';

test('slots let go of wait for the flush that follows, and come back only if it succeeds', (t) => {
  const slots = new SlotAllocator([], 100);
  t.deepEqual(slots.take(3), [0, 1, 2]);
  slots.release(1);
  t.deepEqual(slots.take(1), [3], 'a slot in limbo is not reused');
  const failed = slots.seal();
  slots.settle(failed, false);
  t.deepEqual(slots.take(1), [4], 'nor after a failed flush');
  const batch = slots.seal();
  slots.release(0);
  t.deepEqual(batch, [1]);
  slots.settle(batch, true);
  t.deepEqual(
    [...slots.take(1), ...slots.take(1)],
    [1, 5],
    'after a completed flush it is; slot 0, let go of later, still waits',
  );
  t.is(slots.limboCount, 1);
});

test('at open, every slot below the highest in use that no key points at waits for a flush', (t) => {
  const slots = new SlotAllocator([5, 2, 3], 100);
  t.is(slots.endSlot, 6);
  t.is(slots.limboCount, 3);
  t.deepEqual(slots.take(1), [6]);
  slots.settle(slots.seal(), true);
  t.deepEqual(
    [1, 2, 3, 4].flatMap(() => slots.take(1)),
    [0, 1, 4, 7],
  );
});

test('past its limit the block file refuses new slots with WHORL_NO_SPACE and hands back what it took', (t) => {
  const slots = new SlotAllocator([], 4);
  slots.take(3);
  slots.release(0);
  slots.settle(slots.seal(), true);
  const error = t.throws(() => slots.take(3));
  t.is((error as { code?: string }).code, 'WHORL_NO_SPACE');
  t.regex(error!.message, /block file full: 3 slots, 0 of them waiting for a flush to be reused/);
  t.deepEqual(slots.take(2), [0, 3], 'the refused request kept nothing');
});
