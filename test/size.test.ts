import test from 'ava';
import { parseHostPort } from '../src/cli/listen.js';
import { formatSize, parseSize } from '../src/cli/size.js';

test('human sizes', (t) => {
  t.is(parseSize('--size', '512M'), 512 * 2 ** 20);
  t.is(parseSize('--size', '10G'), 10 * 2 ** 30);
  t.is(parseSize('--size', '1T'), 2 ** 40);
  t.is(parseSize('--size', '10GiB'), 10 * 2 ** 30);
  t.is(parseSize('--size', '4096'), 4096);
  t.is(parseSize('--size', '1.5G'), 1.5 * 2 ** 30);
  t.is(formatSize(10 * 2 ** 30), '10G');
  for (const bad of ['', 'ten', '-1G', '1X', '0', '100', '99999P'])
    t.throws(() => parseSize('--size', bad), { message: /--size/ });
});

test('listen addresses', (t) => {
  t.deepEqual(parseHostPort('--nbd-listen', '127.0.0.1:10809'), { host: '127.0.0.1', port: 10809 });
  t.deepEqual(parseHostPort('--nbd-listen', '[::1]:10809'), { host: '::1', port: 10809 });
  t.deepEqual(parseHostPort('--nbd-listen', ':10809'), { host: '0.0.0.0', port: 10809 });
  for (const bad of ['10809', 'host', '1.2.3.4:99999', '::1:10809']) t.throws(() => parseHostPort('--nbd-listen', bad));
});
