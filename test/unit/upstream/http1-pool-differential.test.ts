import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../../src/proxy/proxy-error.js';
import { Http1Pool } from '../../../src/upstream/http1-pool.js';
import { dispatchAndRecord, type DispatchOutcome } from '../../support/dispatch-recorder.js';
import { startRawUpstream, type RawUpstream } from '../../support/raw-upstream.js';
import { RESPONSE_CORPUS, type CorpusResponse } from '../../support/response-corpus.js';

/**
 * Differential test: every response of the corpus (raw bytes from a raw TCP upstream) goes
 * through undici's Pool, configured as Endpoint configures it, and through our Http1Pool. What
 * the dispatch handler is told — status, reason, raw header list, body, trailers, interim
 * responses, and the failure (its proxy error class and its reason) — must be the same, or ours
 * must be stricter. Every difference is listed here and in docs/design.md ("Upstream HTTP/1.1
 * pool: differences from undici"); a difference not in the table fails the test, and so does an
 * entry that no longer differs.
 *
 * | response | undici | ours | why |
 * |---|---|---|---|
 * | duplicate Content-Length, same value | fails: UND_ERR_RES_CONTENT_LENGTH_MISMATCH (its own Content-Length check) | fails: HPE_UNEXPECTED_CONTENT_LENGTH (llhttp) | same outcome (502 upstream_bad_response), the parser's code |
 * | duplicate Content-Length, different values | fails: UND_ERR_RES_CONTENT_LENGTH_MISMATCH | fails: HPE_UNEXPECTED_CONTENT_LENGTH | as above |
 * | Content-Length list "5, 5" | fails: UND_ERR_RES_CONTENT_LENGTH_MISMATCH | fails: HPE_INVALID_CONTENT_LENGTH | as above |
 * | Content-Length with Transfer-Encoding: chunked | fails: UND_ERR_RES_CONTENT_LENGTH_MISMATCH | fails: HPE_INVALID_TRANSFER_ENCODING | as above |
 * | 304 with a Content-Length | fails after the head: UND_ERR_RES_CONTENT_LENGTH_MISMATCH | 304, no body | ours is more lenient here, on purpose: RFC 9110 §8.6 lets a 304 carry the Content-Length the 200 would have had, and a 304 never has a body; undici's check does not exempt 304 |
 * | an unsolicited 100 Continue, then 200 | fails: UND_ERR_SOCKET ("bad response": undici destroys the connection on any 100 it did not ask for) | 200 "ok", the 100 skipped | ours follows RFC 9110 §15.2 (a client parses and ignores a 1xx it did not expect); undici needed a patch for this while its Pool served upstreams |
 *
 * Parse errors: undici raises HTTPParserError with llhttp's reason in the message and no code;
 * ours carries the HPE_ code and the same reason. Both are compared by llhttp's reason.
 */

interface Comparable {
  status: number;
  statusText: string;
  headers: string[];
  body: string;
  trailers: string[] | null;
  interim: number[];
  failure: { kind: string; reason: string } | null;
}

const OUR_PARSE_ERROR = /is not valid HTTP\/1\.1: (.*) \(HPE_\w+\)$/;
const UNDICI_PARSE_ERROR = /^Response does not match the HTTP\/1\.1 protocol \((.*)\)$/;

function reasonOf(err: Error & { code?: string }): string {
  const ours = OUR_PARSE_ERROR.exec(err.message);
  if (ours !== null) return `parser: ${ours[1]}`;
  const theirs = UNDICI_PARSE_ERROR.exec(err.message);
  if (theirs !== null) return `parser: ${theirs[1]}`;
  return err.code ?? err.name;
}

function comparable(r: DispatchOutcome): Comparable {
  return {
    status: r.status,
    statusText: r.statusText,
    headers: r.headers,
    body: r.body.toString('latin1'),
    trailers: r.trailers,
    interim: r.interim.map((i) => i.status),
    failure: r.error === null ? null : { kind: classifyUpstreamError(r.error), reason: reasonOf(r.error) },
  };
}

/** Expected differences, by corpus name: what each pool does. */
const DIFFERENCES: Record<string, { undici: Partial<Comparable>; ours: Partial<Comparable> }> = {
  'duplicate Content-Length, same value': {
    undici: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' } },
    ours: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'parser: Duplicate Content-Length' } },
  },
  'duplicate Content-Length, different values': {
    undici: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' } },
    ours: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'parser: Duplicate Content-Length' } },
  },
  'Content-Length list "5, 5"': {
    undici: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' } },
    ours: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'parser: Invalid character in Content-Length' } },
  },
  'Content-Length with Transfer-Encoding: chunked': {
    undici: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' } },
    ours: { status: 0, failure: { kind: 'upstream_bad_response', reason: "parser: Transfer-Encoding can't be present with Content-Length" } },
  },
  '304 with a Content-Length': {
    undici: { status: 304, failure: { kind: 'upstream_bad_response', reason: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' } },
    ours: { status: 304, body: '', failure: null },
  },
  'unsolicited 100 then 200': {
    undici: { status: 0, failure: { kind: 'upstream_bad_response', reason: 'UND_ERR_SOCKET' } },
    ours: { status: 200, body: 'ok', failure: null },
  },
};

/** The listed differences where ours accepts what undici refuses, each because an RFC says a client must (see the table above). */
const RFC_REQUIRED = new Set(['304 with a Content-Length', 'unsolicited 100 then 200']);

const upstreams: RawUpstream[] = [];
const pools: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close().catch(() => undefined)));
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

async function through(kind: 'undici' | 'ours', c: CorpusResponse): Promise<Comparable> {
  const up = await startRawUpstream((socket) => {
    socket.write(Buffer.from(c.bytes, 'latin1'));
    if (c.close === true) socket.end();
  });
  upstreams.push(up);
  // The pools as Endpoint builds them (one connection is enough for one request).
  const pool: Pick<Dispatcher, 'dispatch'> & { close(): Promise<void> } =
    kind === 'undici'
      ? new Pool(`http://127.0.0.1:${up.port}`, { connections: 1, pipelining: 1, keepAliveTimeout: 4_000, connect: { timeout: 2_000 } })
      : new Http1Pool(`http://127.0.0.1:${up.port}`, '127.0.0.1', up.port, { connections: 1, connectTimeout: 2_000, keepAliveTimeout: 4_000, tls: null });
  // undici's close() waits for the connection; destroy it instead once the request is done.
  pools.push(kind === 'undici' ? { close: () => (pool as Pool).destroy() } : pool);
  const outcome = await dispatchAndRecord(pool, { method: c.method ?? 'GET', path: '/', headers: ['host', 'upstream.test'], headersTimeout: 1_000, bodyTimeout: 1_000 });
  return comparable(outcome);
}

describe('Http1Pool and undici Pool on the same upstream bytes', () => {
  for (const c of RESPONSE_CORPUS) {
    it(c.name, async () => {
      const undici = await through('undici', c);
      const ours = await through('ours', c);
      const expected = DIFFERENCES[c.name];
      if (expected === undefined) {
        expect(ours).toEqual(undici);
        return;
      }
      // A listed difference: both sides behave as the table says, and they do differ.
      expect(undici).toMatchObject(expected.undici);
      expect(ours).toMatchObject(expected.ours);
      expect(ours).not.toEqual(undici);
      // Ours is never more lenient, except where the table cites the RFC that requires it.
      if (!RFC_REQUIRED.has(c.name)) expect(ours.failure).not.toBeNull();
    });
  }

  it('every listed difference names a response of the corpus', () => {
    const names = new Set(RESPONSE_CORPUS.map((c) => c.name));
    for (const name of Object.keys(DIFFERENCES)) expect(names.has(name), name).toBe(true);
  });
});
