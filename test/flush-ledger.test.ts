import test from 'ava';
import { FlushLedger, mixedIncarnation } from '../src/groups/flush-ledger.js';

test('a flush puts at risk the regions a copy acknowledged and did not flush in the same incarnation, naming the copies that did', (t) => {
  const ledger = new FlushLedger();
  ledger.wrote('1:0', 0, 5);
  ledger.wrote('1:0', 1, 7);
  ledger.wrote('1:1', 0, 5);
  ledger.wrote('1:2', 1, 7);
  ledger.wrote('1:3', 1, 7);
  ledger.wrote('1:3', 1, 8);
  ledger.begin(1);
  // Server 0 flushed in the incarnation that acknowledged; server 1 restarted (8) before flushing.
  ledger.flushedOn(1, 0, 5);
  ledger.flushedOn(1, 1, 8);
  t.deepEqual(ledger.atRisk(1), [
    { key: '1:0', flushed: [0], unflushed: [1] },
    { key: '1:2', flushed: [], unflushed: [1] },
    { key: '1:3', flushed: [], unflushed: [1] },
  ]);
  t.deepEqual(ledger.settle(1), ['1:1']);
  t.deepEqual(ledger.atRisk(1), [], 'a settled flush is forgotten');
});

test('writes a copy flushed in an unsettled flush are not at risk in the next one, and their region is still covered', (t) => {
  const ledger = new FlushLedger();
  ledger.wrote('1:0', 0, 5);
  ledger.wrote('1:0', 1, 7);
  ledger.begin(1);
  ledger.flushedOn(1, 0, 5);
  // Flush 1 never settles (server 1 did not answer it); flush 2 carries what server 1 acknowledged.
  ledger.wrote('1:4', 0, 5);
  ledger.begin(2);
  ledger.flushedOn(2, 0, 5);
  t.deepEqual(ledger.atRisk(2), [{ key: '1:0', flushed: [0], unflushed: [1] }], 'server 0 flushed it in flush 1');
  ledger.flushedOn(2, 1, 7);
  t.deepEqual(ledger.atRisk(2), []);
  t.deepEqual(ledger.settle(2).sort(), ['1:0', '1:4']);

  // A copy that flushed earlier writes to a region but not a later one does not hold the region.
  const later = new FlushLedger();
  later.wrote('1:6', 0, 5);
  later.wrote('1:6', 1, 7);
  later.begin(4);
  later.flushedOn(4, 0, 5);
  later.wrote('1:6', 0, 5);
  later.begin(5);
  later.flushedOn(5, 1, 7);
  t.deepEqual(later.atRisk(5), [{ key: '1:6', flushed: [1], unflushed: [0] }]);

  // A region acknowledged by two incarnations of one server stays at risk whatever it flushed.
  const mixed = new FlushLedger();
  mixed.wrote('1:5', 0, 5);
  mixed.wrote('1:5', 0, 6);
  mixed.begin(3);
  mixed.flushedOn(3, 0, mixedIncarnation);
  t.deepEqual(mixed.atRisk(3), [{ key: '1:5', flushed: [], unflushed: [0] }]);
});
