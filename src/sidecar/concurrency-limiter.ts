import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerStream } from '../codec/server-stream.js';
import type { ProxyHandler } from '../proxy/proxy-handler.js';
import { sendProxyError, sendStreamError } from '../proxy/proxy-error.js';
import { requestIdFor } from '../proxy/request-id.js';
import type { ParseAgain } from '../proxy/upgrade-request.js';

/**
 * Admission control in front of a ProxyHandler: at most `maxConcurrent` requests are forwarded
 * at once, up to `maxQueue` more wait in arrival order, and anything beyond is answered at
 * once with 503 `over_capacity`. A slot is freed when the response closes (finished or
 * aborted). Requests come as node:http's request/response pairs (HTTP/1.x) or as codec streams
 * (HTTP/2, handleStream); both wait in the same queue. A queued request whose client has gone away is skipped when its turn comes.
 * Upgrade requests (WebSocket) are long-lived and pass through without taking a slot.
 *
 * The queue is a fixed ring of two arrays, so queuing allocates nothing per request.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private head = 0;
  private queued = 0;
  private readonly queueReq: (IncomingMessage | undefined)[];
  private readonly queueRes: (ServerResponse | undefined)[];
  private readonly queueStream: (ServerStream | undefined)[];
  private readonly rejectDetail: string;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly inner: ProxyHandler,
    private readonly maxConcurrent: number,
    private readonly maxQueue: number,
  ) {
    this.queueReq = new Array<IncomingMessage | undefined>(maxQueue).fill(undefined);
    this.queueRes = new Array<ServerResponse | undefined>(maxQueue).fill(undefined);
    this.queueStream = new Array<ServerStream | undefined>(maxQueue).fill(undefined);
    this.rejectDetail = `${maxConcurrent} request(s) in progress and ${maxQueue} waiting`;
  }

  /** Requests forwarded now plus requests waiting. */
  get inFlight(): number {
    return this.active + this.queued;
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.active < this.maxConcurrent) {
      this.admit(req, res);
      return;
    }
    if (this.queued < this.maxQueue) {
      const tail = (this.head + this.queued) % this.maxQueue;
      this.queueReq[tail] = req;
      this.queueRes[tail] = res;
      this.queued++;
      return;
    }
    const idHeader = this.inner.context.headers.requestIdHeader;
    sendProxyError(res, 'over_capacity', idHeader, requestIdFor(req.headers[idHeader]), this.rejectDetail);
  };

  readonly handleStream = (stream: ServerStream): void => {
    if (this.active < this.maxConcurrent) {
      this.admitStream(stream);
      return;
    }
    if (this.queued < this.maxQueue) {
      this.queueStream[(this.head + this.queued) % this.maxQueue] = stream;
      this.queued++;
      return;
    }
    const idHeader = this.inner.context.headers.requestIdHeader;
    if (stream.hasBody) stream.closeAfterResponse();
    sendStreamError(stream, 'over_capacity', idHeader, requestIdFor(stream.headers[idHeader]), this.rejectDetail);
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, parseAgain: ParseAgain): void => {
    this.inner.handleUpgrade(req, socket, head, parseAgain);
  };

  /** Resolves once nothing is forwarded or queued. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private admit(req: IncomingMessage, res: ServerResponse): void {
    this.active++;
    res.once('close', this.release);
    this.inner.handleRequest(req, res);
  }

  private admitStream(stream: ServerStream): void {
    this.active++;
    stream.onceDone(this.release);
    this.inner.handleStream(stream);
  }

  private readonly release = (): void => {
    this.active--;
    while (this.active < this.maxConcurrent && this.queued > 0) {
      const req = this.queueReq[this.head];
      const res = this.queueRes[this.head];
      const stream = this.queueStream[this.head];
      this.queueReq[this.head] = undefined;
      this.queueRes[this.head] = undefined;
      this.queueStream[this.head] = undefined;
      this.head = (this.head + 1) % this.maxQueue;
      this.queued--;
      if (stream !== undefined) {
        if (!stream.destroyed) this.admitStream(stream);
        continue;
      }
      if (req!.socket.destroyed || res!.writableEnded) continue;
      this.admit(req!, res!);
    }
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  };
}
