import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { arg } from './args.js';

/**
 * `npm run bench -- handoff [--trips=N]`: what one hand-off between two sleeping threads costs,
 * in wall time and in CPU (both threads, user + system), carried by a MessagePort message (the
 * runtime's doorbell) and by Atomics.notify / Atomics.waitAsync. One message is in flight at a
 * time, so every hand-off wakes a thread that went to sleep: what a lone 4 KiB request meets in
 * the cluster, twice per read (front end → server's worker → front end).
 */
type Mode = 'port' | 'atomics';

/** Atomics.waitAsync is in Node 20 but not in the ES2022 library the project compiles against. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: Promise<unknown> };
  }
).waitAsync;

// The worker answers each hand-off with one back; flag 0 rings it, flag 1 rings the main thread.
const echo = `
const { workerData, parentPort } = require('node:worker_threads');
const { port, flags, mode } = workerData;
const flag = new Int32Array(flags);
if (mode === 'port') port.on('message', () => port.postMessage(0));
else {
  setInterval(() => {}, 1 << 30);
  const wait = () => {
    const waiting = Atomics.waitAsync(flag, 0, 0);
    const answer = () => { Atomics.store(flag, 0, 0); Atomics.store(flag, 1, 1); Atomics.notify(flag, 1); wait(); };
    if (waiting.async) waiting.value.then(answer); else answer();
  };
  wait();
}
parentPort.postMessage('ready');
`;

async function roundTrips(mode: Mode, trips: number): Promise<{ wallUs: number; cpuUs: number }> {
  const flags = new SharedArrayBuffer(8);
  const flag = new Int32Array(flags);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(echo, { eval: true, workerData: { port: port2, flags, mode }, transferList: [port2] });
  await once(worker, 'message');
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await new Promise<void>((done) => {
    let left = trips;
    if (mode === 'port') {
      port1.on('message', () => (--left === 0 ? done() : port1.postMessage(0)));
      port1.postMessage(0);
      return;
    }
    const ring = (): void => {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      const waiting = waitAsync(flag, 1, 0);
      const back = (): void => {
        Atomics.store(flag, 1, 0);
        if (--left === 0) done();
        else ring();
      };
      if (waiting.async) void waiting.value.then(back);
      else back();
    };
    ring();
  });
  const wallUs = Number(process.hrtime.bigint() - started) / 1000 / trips;
  const cpu = process.cpuUsage(cpuBefore);
  port1.close();
  await worker.terminate();
  return { wallUs, cpuUs: (cpu.user + cpu.system) / trips };
}

export async function benchHandoff(args: string[]): Promise<void> {
  const trips = Number(arg(args, 'trips', '20000'));
  console.log(`${trips} round trips between the main thread and a worker, one in flight`);
  console.log('| carried by | round trip µs | CPU µs per round trip (both threads) |');
  console.log('|---|---|---|');
  for (const mode of ['port', 'atomics', 'port', 'atomics'] as const) {
    const { wallUs, cpuUs } = await roundTrips(mode, trips);
    console.log(
      `| ${mode === 'port' ? 'MessagePort postMessage' : 'Atomics.notify + waitAsync'} | ${wallUs.toFixed(1)} | ${cpuUs.toFixed(1)} |`,
    );
  }
}
