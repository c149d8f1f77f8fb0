import { describe, expect, it } from 'vitest';
import { LineBytes } from '../../../src/observability/access-log-line-bytes.js';
import { AccessLogLines, type LineShape } from '../../../src/observability/access-log-lines.js';
import { AccessLogQueue } from '../../../src/observability/access-log-queue.js';

const SHAPE: LineShape = { prefix: '{"level":"info"', bindings: ',"pid":1,"name":"switchyard","component":"access"', time: 'iso' };

type Base = [
  number,
  string,
  string | undefined,
  string | undefined,
  string | undefined,
  string | undefined,
  number,
  number,
  number,
  number,
  string,
  string,
  string,
  number,
  number,
  number,
  string | undefined,
];
/** Client address, user agent, protocol, TLS version. */
type Identity = [string, string | undefined, string, string | undefined];
type Fields = [...Base, ...Identity];

const ROWS: Fields[] = [
  [1764482400123, 'id-1', undefined, 'GET', 'example.test', '/a/b?c=d', 200, 0, 1024, 1.234, 'api', 'svc', '127.0.0.1:9000', 200, 0.5, 0, undefined, '203.0.113.9', 'curl/8.5.0', 'HTTP/1.1', undefined],
  [1764482400124, 'id-"2"\\', '4bf92f3577b34da6a3ce929d0e0e4736', 'POST', undefined, '/quote"and\\back\u00e9\u{1f600}', 502, 12, 0, 3, 'r "x"', 's\ty', '127.0.0.1:1', 0, 2.5, 1, 'upstream_reset', '2001:db8::1', 'Mozilla "q" \u00e9', 'HTTP/2', 'TLSv1.3'],
  [1764482401000, 'id-3', 'bad"trace', undefined, 'h\u00ff', undefined, 499, 2 ** 40, 2 ** 33, Number.NaN, 'r', 's', 'e', 0, Number.POSITIVE_INFINITY, 0, 'client_closed', '::ffff:10.0.0.1', undefined, 'HTTP/1.0', undefined],
  [1764482401001, '', undefined, 'GET', '', '/caf\u00e9', 200, 0, 10, 0.05, 'route-\u00e9', 'svc', 'e', 200, 12.3, 2, undefined, 'unknown', 'ua\\back', 'HTTP/1.1', 'TLSv1.2'],
];

/** The line AccessLogLines forms for these fields directly. */
function direct(rows: Fields[]): string {
  const lines = new AccessLogLines(SHAPE);
  for (const r of rows) lines.request(...(r.slice(0, 17) as Base), undefined, ...(r.slice(17) as Identity));
  return lines.takeText();
}

/** The same fields through the queue and read back with a table of the reader's own. */
function throughQueue(queue: AccessLogQueue, rows: Fields[], strings: string[] = []): string {
  const from = queue.end;
  for (const r of rows) expect(queue.putRequest(...r)).toBe(true);
  const lines = new AccessLogLines(SHAPE);
  expect(queue.read(from, queue.end, lines, strings)).toBe(queue.end);
  queue.release(queue.end);
  return lines.takeText();
}

/** The log thread's way: the same records written as bytes. */
function bytesThroughQueue(queue: AccessLogQueue, rows: Fields[], reader = { strings: [] as string[], defined: [] as Uint8Array[] }, chunkBytes = 64 * 1024): string {
  const from = queue.end;
  for (const r of rows) expect(queue.putRequest(...r)).toBe(true);
  const out = new LineBytes(SHAPE, chunkBytes);
  const lines = new AccessLogLines(SHAPE);
  let text = '';
  for (let position = from; position !== queue.end; ) {
    position = queue.readBytes(position, queue.end, out, lines, reader.strings, reader.defined);
    text += out.take()?.toString('utf8') ?? '';
  }
  queue.release(queue.end);
  return text;
}

/** A string of `n` characters drawn from `alphabet`. */
function randomText(n: number, alphabet: string): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

describe('access log queue', () => {
  it('carries every field of a request, as the line formed directly has it', () => {
    const text = throughQueue(new AccessLogQueue(64 * 1024), ROWS);
    expect(text).toBe(direct(ROWS));
    expect(text.split('\n')).toHaveLength(ROWS.length + 1);
    for (const line of text.trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('written as bytes by the log thread, gives the same lines byte for byte', () => {
    expect(bytesThroughQueue(new AccessLogQueue(64 * 1024), ROWS)).toBe(direct(ROWS));
  });

  it('written as bytes, matches the lines formed directly for random fields (escapes, numbers, UTF-8)', () => {
    const queue = new AccessLogQueue(1 << 20);
    const reader = { strings: [] as string[], defined: [] as Uint8Array[] };
    const plain = 'abcXYZ019-_./:?=&';
    const unusual = plain + '"\\\u0001\n\t\u00e9\u00ff\u{1f600}\ud800 ';
    const numbers = [0, 1, 9, 10, 99, 100, 12345, 2 ** 31 - 1, 2 ** 53 - 1, 2 ** 53, 1e21, -1, -0, 0.5, Number.NaN, Number.POSITIVE_INFINITY];
    const ms = [0, 0.0004, 0.0005, 0.001, 0.01, 0.05, 0.1, 0.12, 0.123, 1, 1.005, 1.05, 12.3456, 999999999.9994, 1e9, -0.5, Number.NaN];
    const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    const maybe = (s: string): string | undefined => (Math.random() < 0.2 ? undefined : s);
    for (let round = 0; round < 20; round++) {
      const rows: Fields[] = [];
      for (let i = 0; i < 100; i++) {
        const alphabet = Math.random() < 0.8 ? plain : unusual;
        rows.push([
          1764482400000 + Math.floor(Math.random() * 5000),
          randomText(1 + Math.floor(Math.random() * 40), alphabet),
          maybe(randomText(32, alphabet)),
          maybe(pick(['GET', 'POST', randomText(4, alphabet)])),
          maybe(randomText(Math.floor(Math.random() * 20), alphabet)),
          maybe(randomText(Math.floor(Math.random() * 300), alphabet)),
          pick([200, 404, 502, 499, 0]),
          pick(numbers),
          pick(numbers),
          pick(ms),
          pick(['api', 'r "x"', randomText(8, alphabet)]),
          pick(['svc', 's\ty']),
          pick(['127.0.0.1:9000', randomText(12, alphabet)]),
          pick([200, 0, 503]),
          pick(ms),
          pick([0, 1, 7]),
          maybe(pick(['upstream_reset', 'client_closed', randomText(5, alphabet)])),
          pick(['127.0.0.1', '2001:db8::7', randomText(10, alphabet)]),
          maybe(randomText(Math.floor(Math.random() * 60), alphabet)),
          pick(['HTTP/1.1', 'HTTP/2', randomText(6, alphabet)]),
          maybe(pick(['TLSv1.3', 'TLSv1.2', randomText(7, alphabet)])),
        ]);
      }
      expect(bytesThroughQueue(queue, rows, reader, 4096)).toBe(direct(rows));
    }
  });

  it('wraps around the ring for as long as the reader releases what it read', () => {
    const queue = new AccessLogQueue(2048);
    const strings: string[] = [];
    let expected = '';
    let got = '';
    for (let i = 0; i < 3000; i++) {
      const row: Fields = [...ROWS[i % ROWS.length]!];
      row[1] = `id-${i}`;
      row[5] = `/p/${'x'.repeat(i % 97)}`;
      expected += direct([row]);
      got += throughQueue(queue, [row], strings);
    }
    expect(got).toBe(expected);
    expect(queue.used).toBe(0);
  });

  it('refuses a record when the ring is full, and takes records again once space is released', () => {
    const queue = new AccessLogQueue(1024);
    const row = ROWS[0]!;
    let queued = 0;
    while (queue.putRequest(...row)) queued++;
    expect(queued).toBeGreaterThan(3);
    expect(queue.used).toBeLessThanOrEqual(1024);
    const lines = new AccessLogLines(SHAPE);
    queue.read(queue.start, queue.end, lines, []);
    expect(lines.takeText().split('\n')).toHaveLength(queued + 1);
    queue.release(queue.end);
    expect(queue.putRequest(...row)).toBe(true);
  });

  it('sends repeating strings by number up to its bound, then inline, and reads both back', () => {
    const queue = new AccessLogQueue(1 << 20);
    const strings: string[] = [];
    const rows: Fields[] = [];
    for (let i = 0; i < 5000; i++) {
      const row: Fields = [...ROWS[0]!];
      row[10] = `route-${i}`;
      rows.push(row);
    }
    expect(throughQueue(queue, rows, strings)).toBe(direct(rows));
    const reader = { strings: [] as string[], defined: [] as Uint8Array[] };
    expect(bytesThroughQueue(new AccessLogQueue(1 << 20), rows, reader)).toBe(direct(rows));
    expect(reader.strings).toEqual(strings);
    // 4096 distinct strings defined at most (routes, plus the service, upstream and method of ROWS[0]).
    expect(strings.length).toBe(4096);
    expect(queue.defined).toEqual(strings);
  });

  it('carries lines formed elsewhere in order with the records, marking those outside ASCII', () => {
    const queue = new AccessLogQueue(4096);
    queue.putRequest(...ROWS[0]!);
    queue.putLine('{"msg":"tunnel \u00e9"}\n');
    queue.putRequest(...ROWS[3]!);
    const lines = new AccessLogLines(SHAPE);
    queue.read(queue.start, queue.end, lines, []);
    const bytes = lines.take()!;
    expect(bytes.toString('utf8')).toBe(direct([ROWS[0]!]) + '{"msg":"tunnel \u00e9"}\n' + direct([ROWS[3]!]));
    const out = new LineBytes(SHAPE, 4096);
    queue.readBytes(queue.start, queue.end, out, new AccessLogLines(SHAPE), [], []);
    expect(out.take()!.toString('utf8')).toBe(bytes.toString('utf8'));
  });

  it('a reader in the middle of a record finds it malformed instead of forming garbage', () => {
    const queue = new AccessLogQueue(4096);
    queue.putRequest(...ROWS[0]!);
    expect(() => queue.read(queue.start + 8, queue.end, new AccessLogLines(SHAPE), [])).toThrow(/malformed record|unknown record kind/);
  });

  it('rejects a capacity that is not a power of two', () => {
    expect(() => new AccessLogQueue(3000)).toThrow(/power of two/);
  });
});
