import { describe, expect, it } from 'vitest';
import { h2loadArgs, parseH2loadSummary, summariseH2loadLog } from '../../../bench/lib/h2load.js';

// The closing summary of h2load (nghttp2 1.52) after `-c 16 -m 16 -D 3 --warm-up-time 1`.
const SUMMARY = `starting benchmark...
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 4.01s, 11370.67 req/s, 11.51MB/s
requests: 34112 total, 34112 started, 34110 done, 34000 succeeded, 110 failed, 7 errored, 2 timeout
status codes: 34144 2xx, 1 3xx, 100 4xx, 3 5xx
traffic: 34.53MB (36205568) total, 100.10KB (102502) headers (space savings 95.74%), 33.66MB (35291136) data
                     min         max         mean         sd        +/- sd
time for request:     1.38ms     83.52ms     11.93ms      8.27ms    88.80%
`;

describe('parseH2loadSummary', () => {
  it('reads req/s, the request counts and the status classes', () => {
    expect(parseH2loadSummary(SUMMARY)).toEqual({
      rps: 11370.67,
      total: 34112,
      done: 34110,
      succeeded: 34000,
      failed: 110,
      errored: 7,
      timeout: 2,
      status: { '2xx': 34144, '3xx': 1, '4xx': 100, '5xx': 3 },
    });
  });

  it('reads a run that finished in milliseconds', () => {
    expect(parseH2loadSummary(SUMMARY.replace('finished in 4.01s', 'finished in 812.34ms')).rps).toBe(11370.67);
  });

  it.each([
    ['the finished line', 'finished in'],
    ['the requests line', 'requests:'],
    ['the status codes line', 'status codes:'],
  ])('throws naming %s when it is missing', (_what, prefix) => {
    const broken = SUMMARY.split('\n')
      .filter((l) => !l.startsWith(prefix))
      .join('\n');
    expect(() => parseH2loadSummary(broken)).toThrow(new RegExp(`h2load output has no "${prefix}`));
  });

  it('throws on empty output (h2load could not connect and printed nothing)', () => {
    expect(() => parseH2loadSummary('')).toThrow(/h2load output has no "finished in/);
  });
});

describe('summariseH2loadLog', () => {
  it('counts 2xx, other statuses and failed streams, and takes percentiles of the 2xx rows in ms', () => {
    const rows = [];
    for (let i = 1; i <= 100; i++) rows.push(`17960056216931${i}\t200\t${i * 1000}`);
    rows.push('1796005621693200\t503\t500', '1796005621693201\t-1\t700');
    const s = summariseH2loadLog(`${rows.join('\n')}\n`);
    expect(s).toEqual({ ok: 100, non2xx: 1, failed: 1, p50: 51, p99: 100 });
  });

  it('counts rows with status 0 (status not logged by h2load) as answered', () => {
    const s = summariseH2loadLog('1\t0\t2000\n2\t200\t1000\n');
    expect(s.ok).toBe(2);
    expect(s.non2xx).toBe(0);
  });

  it('gives NaN percentiles when nothing succeeded', () => {
    const s = summariseH2loadLog('1\t-1\t10\n');
    expect(s.ok).toBe(0);
    expect(s.failed).toBe(1);
    expect(s.p50).toBeNaN();
    expect(s.p99).toBeNaN();
  });

  it('reads an empty log (no request finished) as zero rows', () => {
    expect(summariseH2loadLog('')).toEqual({ ok: 0, non2xx: 0, failed: 0, p50: NaN, p99: NaN });
  });

  it.each([
    ['too few columns', '1796005621693121\t200'],
    ['a status that is not a number', '1796005621693121\tOK\t100'],
    ['a negative duration', '1796005621693121\t200\t-5'],
    ['a duration that is not a number', '1796005621693121\t200\tfast'],
  ])('throws naming the line on %s', (_what, line) => {
    expect(() => summariseH2loadLog(`1\t200\t10\n${line}\n`)).toThrow(/h2load log line 2 is not/);
  });
});

describe('h2loadArgs', () => {
  it('sends GET over h2c with connections, streams, duration and the log file', () => {
    expect(h2loadArgs('http://127.0.0.1:8080', { path: '/bench/1k', headers: [], connections: 16, streams: 8 }, 5, '/tmp/log.tsv')).toEqual([
      '-c', '16', '-m', '8', '-t', '1', '-D', '5', '--log-file', '/tmp/log.tsv', 'http://127.0.0.1:8080/bench/1k',
    ]);
  });

  it('adds the body file (POST) and headers, and leaves out the log file of a warm-up run', () => {
    const args = h2loadArgs('http://127.0.0.1:1', { path: '/a.B/C', bodyFile: '/tmp/body', headers: ['content-type: application/grpc', 'te: trailers'], connections: 1, streams: 1 }, 3, null);
    expect(args).not.toContain('--log-file');
    expect(args.slice(-7)).toEqual(['-d', '/tmp/body', '-H', 'content-type: application/grpc', '-H', 'te: trailers', 'http://127.0.0.1:1/a.B/C']);
  });
});
