import { Readable } from 'node:stream';
import type { ServerStream } from '../codec/server-stream.js';

/**
 * A client's request body, streamed from a codec stream to an upstream pool that reads a
 * Readable (undici's contract). Backpressure both ways: a full Readable buffer pauses the
 * codec (the socket stops being read), and the pool's next read resumes it.
 */
export class RequestBodyStream extends Readable {
  constructor(private readonly stream: ServerStream) {
    super({ highWaterMark: 65_536 });
  }

  override _read(): void {
    this.stream.resumeBody();
  }
}
