/**
 * Raw HTTP/1.1 responses, right and wrong, that an upstream may send: the corpus the
 * differential tests play through both HTTP/1.1 upstream pools (undici's and ours).
 * `close`: the upstream closes the connection after writing (the response is close-delimited,
 * or cut short); otherwise the connection stays open and a response that never ends runs into
 * the body or headers timeout.
 */
export interface CorpusResponse {
  readonly name: string;
  readonly bytes: string;
  readonly close?: boolean;
  /** The request method (GET unless said). */
  readonly method?: string;
}

const big = (n: number): string => 'a'.repeat(n);

export const RESPONSE_CORPUS: readonly CorpusResponse[] = [
  { name: 'Content-Length body', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' },
  { name: 'chunked', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  { name: 'chunked with extensions', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=1;b\r\nhello\r\n6;q="x y"\r\n world\r\n0;last\r\n\r\n' },
  { name: 'chunked with trailers', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nX-More: yes\r\n\r\n' },
  { name: 'chunked, upper-case hex size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n' },
  { name: 'chunked, space after the size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n' },
  { name: 'chunked, data longer than the size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n' },
  { name: 'chunked, bare LF after the size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n' },
  { name: 'chunked, cut before the last chunk', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', close: true },
  { name: 'chunked, Connection: close, cut before the last chunk', bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', close: true },
  { name: 'Transfer-Encoding: chunked, gzip (chunked not last): close-delimited', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw bytes', close: true },
  { name: 'Transfer-Encoding: identity', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nraw', close: true },
  { name: 'obs-fold', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n' },
  { name: 'obs-fold on the first field', bytes: 'HTTP/1.1 200 OK\r\n X-A: a\r\nContent-Length: 0\r\n\r\n' },
  { name: 'bare LF line ends', bytes: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok' },
  { name: 'bare LF after one field', bytes: 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok' },
  { name: 'bare CR in a value', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n' },
  { name: 'NUL in a value', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n' },
  { name: 'space before the colon', bytes: 'HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n' },
  { name: 'invalid character in a field name', bytes: 'HTTP/1.1 200 OK\r\nX(A): 1\r\nContent-Length: 0\r\n\r\n' },
  { name: 'empty field name', bytes: 'HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 0\r\n\r\n' },
  { name: 'field value with obs-text (latin1)', bytes: 'HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\nContent-Length: 0\r\n\r\n' },
  { name: 'duplicate Content-Length, same value', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello' },
  { name: 'duplicate Content-Length, different values', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello' },
  { name: 'Content-Length list "5, 5"', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello' },
  { name: 'Content-Length "+5"', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello' },
  { name: 'Content-Length "-1"', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello' },
  { name: 'Content-Length with Transfer-Encoding: chunked', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' },
  { name: 'Transfer-Encoding: chunked with Content-Length after it', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n' },
  { name: 'Content-Length cut short, Connection: close', bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhalf', close: true },
  { name: 'Content-Length cut short, keep-alive', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf', close: true },
  { name: 'close-delimited body', bytes: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil the end', close: true },
  { name: 'HTTP/1.0, close-delimited', bytes: 'HTTP/1.0 200 OK\r\n\r\nold', close: true },
  { name: 'invalid status line (no code)', bytes: 'HTTP/1.1 OK\r\n\r\n' },
  { name: 'status code of two digits', bytes: 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'status code 999', bytes: 'HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n' },
  { name: 'status line without a reason', bytes: 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n' },
  { name: 'status line, empty reason', bytes: 'HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n' },
  { name: 'lower-case protocol name', bytes: 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'HTTP/2.0 in the status line', bytes: 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'HTTP/1.2 in the status line', bytes: 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'garbage instead of a response', bytes: 'GARBAGE\r\n\r\n' },
  { name: 'a head of 20 KB (over 16 KiB)', bytes: `HTTP/1.1 200 OK\r\nX-Big: ${big(20_000)}\r\nContent-Length: 0\r\n\r\n` },
  { name: 'a head just under 16 KiB', bytes: `HTTP/1.1 200 OK\r\nX-Big: ${big(16_000)}\r\nContent-Length: 0\r\n\r\n` },
  { name: '3000 small fields (names and values over 16 KiB together)', bytes: `HTTP/1.1 200 OK\r\n${Array.from({ length: 3000 }, (_, i) => `X-${i}: v\r\n`).join('')}Content-Length: 0\r\n\r\n` },
  { name: 'trailers of 20 KB', bytes: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ${big(20_000)}\r\n\r\n` },
  { name: '204 with a Content-Length', bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n' },
  { name: '304 with a Content-Length', bytes: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n' },
  { name: 'HEAD answered with a Content-Length', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', method: 'HEAD' },
  { name: '103 then 200', bytes: 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'unsolicited 100 then 200', bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' },
  { name: '101 to a request without an upgrade', bytes: 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' },
  { name: 'Upgrade field on a 200', bytes: 'HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'a second response after the first', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'nothing at all, then close', bytes: '', close: true },
  { name: 'half a status line, then close', bytes: 'HTTP/1.1 20', close: true },
];
