import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';

/** One HTTP/2 response read whole. */
export interface Http2Response {
  status: number;
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
  body: Buffer;
  /** Trailing header fields, {} when none came. */
  trailers: IncomingHttpHeaders;
  /** The stream's RST_STREAM code (0 when it ended normally). */
  rstCode: number;
}

/**
 * Opens an HTTP/2 session: `http://…` with prior knowledge (h2c), `https://…` by ALPN. Resolves
 * once the server's SETTINGS arrived; rejects when the connection fails or closes first.
 */
export function openHttp2(url: string, options: SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(url, options);
    const fail = (err: Error) => {
      session.destroy();
      reject(err);
    };
    session.once('error', fail);
    session.once('close', () => reject(new Error('the HTTP/2 session closed before it was set up')));
    session.once('remoteSettings', () => {
      session.off('error', fail);
      // Errors after setup (a GOAWAY during a test) are seen by the streams.
      session.on('error', () => undefined);
      resolve(session);
    });
  });
}

/** Sends one request on `session` and reads the whole response, trailers included. */
export function http2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer | null, options: { endStream?: boolean } = {}): Promise<Http2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body == null && options.endStream !== false });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders = {} as IncomingHttpHeaders & IncomingHttpStatusHeader;
    let trailers: IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err: Error & { code?: string }) => {
      // A stream reset after a complete response head (413 then RST_STREAM) still answers.
      if (status !== 0) return;
      reject(err);
    });
    stream.on('close', () => {
      if (status === 0) {
        reject(new Error(`the stream closed without a response (RST_STREAM code ${stream.rstCode})`));
        return;
      }
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode ?? constants.NGHTTP2_NO_ERROR });
    });
    if (body != null) stream.end(body);
  });
}

/** Closes a session and waits until it is gone. */
export function closeHttp2(session: ClientHttp2Session | undefined): Promise<void> {
  if (session === undefined || session.destroyed) return Promise.resolve();
  return new Promise((resolve) => session.close(() => resolve()));
}
