/**
 * Finds where each HTTP/1.1 response ends in the bytes a keep-alive connection receives, for
 * the open-loop load generator: the status code, the body framed by Content-Length or chunked
 * transfer coding (trailers skipped), interim 1xx responses skipped, `Connection: close` noted.
 * Bodies are counted, never copied or kept.
 *
 * It is not a validating parser: it reads what a load generator needs from responses of
 * servers under test and rejects (with a reason) what it cannot frame: a response without
 * Content-Length or chunked coding (body until close), a malformed status line, chunk size or
 * length, bytes after a response that no request asked for.
 */

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Longest response head accepted (headers are small in every benchmark). */
const MAX_HEAD = 64 * 1024;

const enum State {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  Done,
}

export interface ResponseEnd {
  status: number;
  /** The server said it closes the connection after this response. */
  close: boolean;
}

export class Http1ResponseReader {
  private state = State.Done;
  /** Head bytes received so far when the head spans reads. */
  private partialHead: Buffer | null = null;
  private remaining = 0;
  private status = 0;
  private close = false;
  /** Bytes of the current chunk-size or trailer line (short lines, kept as text). */
  private line = '';
  /** Why the last feed failed. */
  error = '';

  /** Expects one response (a request was sent). */
  expect(): void {
    this.state = State.Head;
    this.partialHead = null;
    this.line = '';
  }

  /** Whether a response is expected and not complete yet. */
  get busy(): boolean {
    return this.state !== State.Done;
  }

  /**
   * Reads `data`. Returns the response's end once it is complete, null while more bytes are
   * needed, or undefined when the bytes cannot be framed (`error` says why).
   */
  feed(data: Buffer): ResponseEnd | null | undefined {
    let at = 0;
    const n = data.length;
    while (at < n) {
      switch (this.state) {
        case State.Done:
          this.error = `${n - at} bytes received with no request outstanding`;
          return undefined;
        case State.Head: {
          let head: Buffer;
          let bodyStart: number;
          if (this.partialHead === null) {
            const end = data.indexOf(CRLFCRLF, at);
            if (end === -1) {
              this.partialHead = Buffer.from(data.subarray(at));
              return this.checkHeadSize();
            }
            head = data.subarray(at, end);
            bodyStart = end + 4;
          } else {
            const previous = this.partialHead.length;
            const joined = Buffer.concat([this.partialHead, data.subarray(at)]);
            const end = joined.indexOf(CRLFCRLF, Math.max(0, previous - 3));
            if (end === -1) {
              this.partialHead = joined;
              return this.checkHeadSize();
            }
            this.partialHead = null;
            head = joined.subarray(0, end);
            bodyStart = at + end + 4 - previous;
          }
          if (!this.readHead(head.toString('latin1'))) return undefined;
          at = bodyStart;
          if ((this.state as State) === State.Done) return this.finish(at, n);
          break;
        }
        case State.Body: {
          const take = Math.min(this.remaining, n - at);
          this.remaining -= take;
          at += take;
          if (this.remaining > 0) break;
          this.state = State.Done;
          return this.finish(at, n);
        }
        case State.ChunkSize:
        case State.Trailer: {
          const lf = data.indexOf(10, at);
          const stop = lf === -1 ? n : lf + 1;
          this.line += data.toString('latin1', at, stop);
          at = stop;
          if (this.line.length > 4096) {
            this.error = 'chunk-size or trailer line longer than 4096 bytes';
            return undefined;
          }
          if (lf === -1) break;
          const line = this.line.endsWith('\r\n') ? this.line.slice(0, -2) : this.line.slice(0, -1);
          this.line = '';
          if (this.state === State.Trailer) {
            if (line === '') {
              this.state = State.Done;
              return this.finish(at, n);
            }
            break;
          }
          const semi = line.indexOf(';');
          const hex = (semi === -1 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,15}$/.test(hex)) {
            this.error = `malformed chunk size ${JSON.stringify(line.slice(0, 40))}`;
            return undefined;
          }
          this.remaining = parseInt(hex, 16);
          this.state = this.remaining === 0 ? State.Trailer : State.ChunkData;
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.remaining, n - at);
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          const expected = this.remaining === 2 ? 13 : 10;
          if (data[at] !== expected) {
            this.error = 'chunk data not followed by CRLF';
            return undefined;
          }
          at++;
          if (--this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
      }
    }
    return this.state === State.Done ? { status: this.status, close: this.close } : null;
  }

  private checkHeadSize(): null | undefined {
    if (this.partialHead!.length <= MAX_HEAD) return null;
    this.error = `response head longer than ${MAX_HEAD} bytes`;
    return undefined;
  }

  /** A response ended at `at` of `n` bytes: anything after it was not asked for. */
  private finish(at: number, n: number): ResponseEnd | undefined {
    if (at < n) {
      this.error = `${n - at} bytes received after a complete response with no request outstanding`;
      return undefined;
    }
    return { status: this.status, close: this.close };
  }

  /** Reads the status line and framing headers; sets the state that follows the head. */
  private readHead(text: string): boolean {
    if (!text.startsWith('HTTP/1.') || text.charCodeAt(8) !== 32) {
      this.error = `not an HTTP/1.x status line: ${JSON.stringify(text.slice(0, 40))}`;
      return false;
    }
    const status = Number(text.slice(9, 12));
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      this.error = `malformed status code in ${JSON.stringify(text.slice(0, 40))}`;
      return false;
    }
    if (status >= 100 && status < 200 && status !== 101) {
      // An interim response (100 Continue, 103 Early Hints): the final one follows.
      this.state = State.Head;
      return true;
    }
    this.status = status;
    const lower = text.toLowerCase();
    const connection = headerValue(lower, 'connection');
    this.close = connection !== null ? connection.includes('close') : text.charCodeAt(7) === 48; // HTTP/1.0
    if (status === 204 || status === 304) {
      this.state = State.Done;
      return true;
    }
    const coding = headerValue(lower, 'transfer-encoding');
    if (coding !== null && coding.includes('chunked')) {
      this.state = State.ChunkSize;
      return true;
    }
    const length = headerValue(lower, 'content-length');
    if (length === null) {
      this.error = `response ${status} has neither Content-Length nor chunked coding (a body until close cannot be framed on a keep-alive connection)`;
      return false;
    }
    if (!/^\d{1,15}$/.test(length)) {
      this.error = `malformed Content-Length ${JSON.stringify(length)}`;
      return false;
    }
    this.remaining = Number(length);
    this.state = this.remaining === 0 ? State.Done : State.Body;
    return true;
  }
}

/** The trimmed value of header `name` in a lower-cased head, or null when absent. */
function headerValue(lowerHead: string, name: string): string | null {
  const key = `\r\n${name}:`;
  const at = lowerHead.indexOf(key);
  if (at === -1) return null;
  const start = at + key.length;
  const end = lowerHead.indexOf('\r\n', start);
  return lowerHead.slice(start, end === -1 ? undefined : end).trim();
}
