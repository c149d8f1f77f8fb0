import type { ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import { buildClientHeaders } from './response-headers.js';

/**
 * Passes an upstream's interim (1xx) response on to the client, or drops it. The final response
 * always follows on its own; an interim response never ends or breaks the exchange.
 *
 * - 103 Early Hints is relayed with its headers filtered like any response's (hop-by-hop and
 *   Connection-named fields dropped), through Node's writeEarlyHints, which also checks the
 *   Link values: a 103 whose Link values it refuses, or that has none, is dropped.
 * - Every other 1xx is dropped. 100 Continue is the listener's own business (Node answers a
 *   client's `Expect: 100-continue`, and Expect is not forwarded, so every upstream 100 is
 *   unsolicited; the upstream pool hands it on like any 1xx), 102 Processing is obsolete
 *   (RFC 9110 leaves it out), and a client that does not know an interim code gains nothing
 *   from it; RFC 9110 §15.2 lets a proxy drop interim responses it did not ask for only for
 *   101 and 1xx it generated, so this is a deliberate, documented choice, as in nginx.
 * - Nothing interim goes to an HTTP/1.0 client (RFC 9110 §15.2), nor after the final head.
 *
 * 101 never arrives here: upgrades are handled by the upgrade exchange.
 */
export function writeInformational(res: ServerResponse, statusCode: number, rawHeaders: Buffer[], logger: Logger, requestIdHeader: string, requestId: string): void {
  if (statusCode !== 103 || res.headersSent || (res.req.httpVersionMajor === 1 && res.req.httpVersionMinor === 0)) return;
  let headers: string[];
  try {
    headers = buildClientHeaders(rawHeaders, requestIdHeader, requestId);
  } catch (err) {
    logger.debug({ requestId, error: (err as Error).message }, '103 Early Hints dropped: framing headers on an interim response');
    return;
  }
  const hints: Record<string, string | string[]> = {};
  const links: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    if (name === 'link') links.push(value);
    else hints[name] = hints[name] === undefined ? value : `${hints[name] as string}, ${value}`;
  }
  if (links.length === 0) return;
  hints.link = links;
  try {
    res.writeEarlyHints(hints);
  } catch (err) {
    logger.debug({ requestId, error: (err as Error).message }, '103 Early Hints dropped: Node refused a Link value');
  }
}
