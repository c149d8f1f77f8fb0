import { Http1Parser, ParseError, ParserKind, type LenientFlag, type ParserHandler } from './llhttp.js';

/**
 * What each of llhttp's lenient flags would let through, as requests a strict parser must
 * refuse. The flags are set off on every parser (llhttp.ts); this proves it on the build that
 * is actually loaded, so a parser upgrade that changed a default cannot go unnoticed.
 */
export const LENIENT_PROBES: ReadonlyArray<{ readonly flag: LenientFlag; readonly input: string }> = [
  { flag: 'headers', input: 'GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n' },
  { flag: 'chunked_length', input: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
  { flag: 'keep_alive', input: 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n' },
  { flag: 'transfer_encoding', input: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc' },
  { flag: 'version', input: 'GET / HTTP/1.7\r\nHost: a\r\n\r\n' },
  { flag: 'data_after_close', input: 'GET / HTTP/1.0\r\nHost: a\r\n\r\nX' },
  { flag: 'optional_lf_after_cr', input: 'GET / HTTP/1.1\rHost: a\r\n\r\n' },
  { flag: 'optional_cr_before_lf', input: 'GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n' },
  { flag: 'optional_crlf_after_chunk', input: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc3\r\ndef\r\n0\r\n\r\n' },
  { flag: 'spaces_after_chunk_size', input: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n' },
];

/** A well-formed request with a chunked body: the control case, which must parse. */
const CONTROL = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';

class DiscardingHandler implements ParserHandler {
  messages = 0;
  onMessageBegin(): number {
    return 0;
  }
  onUrl(): number {
    return 0;
  }
  onStatus(): number {
    return 0;
  }
  onHeaderField(): number {
    return 0;
  }
  onHeaderValue(): number {
    return 0;
  }
  onHeadersComplete(): number {
    return 0;
  }
  onBody(): number {
    return 0;
  }
  onMessageComplete(): number {
    this.messages++;
    return 0;
  }
}

/**
 * The result of feeding one probe to a fresh request parser (strict, or with `lenient` turned
 * on to show what that flag changes).
 */
export function probeParser(input: string, lenient?: LenientFlag): { accepted: boolean; error: string } {
  const parser = new Http1Parser(ParserKind.REQUEST, new DiscardingHandler());
  if (lenient !== undefined) parser.setLenient(lenient, true);
  try {
    const result = parser.execute(Buffer.from(input, 'latin1'));
    return { accepted: result === ParseError.OK, error: result === ParseError.OK ? '' : Http1Parser.errorName(result) };
  } finally {
    parser.free();
  }
}

/**
 * Checks at start that the loaded llhttp refuses what every lenient flag would accept and still
 * parses a well-formed request. Throws naming the flag otherwise (the listener does not start).
 */
export function verifyParserStrictness(): void {
  const control = probeParser(CONTROL);
  if (!control.accepted) {
    throw new Error(`the HTTP/1.1 parser refused a well-formed request (${control.error}); the llhttp build in undici is not usable: reinstall dependencies`);
  }
  for (const probe of LENIENT_PROBES) {
    if (probeParser(probe.input).accepted) {
      throw new Error(
        `the HTTP/1.1 parser accepted input its lenient_${probe.flag} flag would allow; the codec requires strict llhttp: check the undici version in package-lock.json`,
      );
    }
  }
}
