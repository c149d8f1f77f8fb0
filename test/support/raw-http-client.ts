import { connect, type Socket } from 'node:net';

/** One HTTP response parsed from raw bytes. */
export interface RawResponse {
  /** e.g. "HTTP/1.1 400 Bad Request" */
  statusLine: string;
  status: number;
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

/**
 * A client connection that speaks raw bytes (latin1), for requests no well-behaved client
 * library would send. Collects everything the server writes and notes when it closes.
 */
export class RawConnection {
  private received = '';
  private closedFlag = false;
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (this.received += d));
    socket.on('error', () => {
      // A reset by the server counts as closed; `closed` reports it.
    });
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedFlag = true;
        resolve();
      }),
    );
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host);
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Everything received so far, as latin1 text. */
  get text(): string {
    return this.received;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  write(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Resolves when the server has closed the connection; rejects after `timeoutMs`. */
  async waitForClose(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms; received: ${JSON.stringify(this.received.slice(0, 300))}`)), timeoutMs);
    });
    try {
      await Promise.race([this.closedPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the responses once `count` complete ones have arrived; rejects after `timeoutMs`. */
  async waitForResponses(count = 1, timeoutMs = 5_000): Promise<RawResponse[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponses(this.received);
      if (parsed.length >= count) return parsed;
      if (this.closedFlag) throw new Error(`the connection closed after ${parsed.length} of ${count} responses; received: ${JSON.stringify(this.received.slice(0, 300))}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} responses; received: ${JSON.stringify(this.received.slice(0, 300))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Whether the server keeps the connection open for `ms` (a generous wait, not a timing claim). */
  async staysOpenFor(ms: number): Promise<boolean> {
    await Promise.race([this.closedPromise, new Promise((r) => setTimeout(r, ms))]);
    return !this.closedFlag;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Sends `bytes` on a fresh connection and resolves once the server has closed it, with what
 * it sent. For requests the proxy must refuse (it closes after refusing) or requests sent
 * with "Connection: close".
 */
export async function sendRaw(port: number, bytes: string | Buffer, timeoutMs = 5_000): Promise<{ text: string; responses: RawResponse[] }> {
  const conn = await RawConnection.open(port);
  conn.write(bytes);
  try {
    await conn.waitForClose(timeoutMs);
  } finally {
    conn.destroy();
  }
  return { text: conn.text, responses: parseResponses(conn.text) };
}

/**
 * Parses complete responses (Content-Length or chunked bodies; a response without either
 * counts once the connection text ends after its head). Stops at the first incomplete one.
 */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  while (pos < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const lines = text.slice(pos, headEnd).split('\r\n');
    const statusLine = lines[0]!;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(statusLine.split(' ')[1]);
    let bodyStart = headEnd + 4;
    let body: string;
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (text.length < bodyStart + length) break;
      body = text.slice(bodyStart, bodyStart + length);
      pos = bodyStart + length;
    } else if (headers['transfer-encoding'] !== undefined) {
      body = '';
      let complete = false;
      for (;;) {
        const lineEnd = text.indexOf('\r\n', bodyStart);
        if (lineEnd < 0) break;
        const size = parseInt(text.slice(bodyStart, lineEnd), 16);
        if (size === 0) {
          const end = text.indexOf('\r\n\r\n', lineEnd);
          if (end < 0) break;
          pos = end + 4;
          complete = true;
          break;
        }
        if (text.length < lineEnd + 2 + size + 2) break;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        bodyStart = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
    } else {
      body = text.slice(bodyStart);
      pos = text.length;
    }
    out.push({ statusLine, status, headers, body });
  }
  return out;
}
