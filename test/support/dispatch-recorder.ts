import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamPool } from '../../src/upstream/endpoint.js';

/** Everything a dispatch handler was told, in a comparable form (header names and values as latin1 text). */
export interface DispatchOutcome {
  /** 1xx responses, in order. */
  interim: { status: number; headers: string[] }[];
  status: number;
  statusText: string;
  headers: string[];
  body: Buffer;
  /** Trailer fields, or null before onComplete. */
  trailers: string[] | null;
  error: (Error & { code?: string }) | null;
  upgrade: { status: number; headers: string[]; socket: Duplex } | null;
  /** Callback names in order: connect, headers, data, complete, error, upgrade. */
  events: string[];
}

export interface RecordingHooks {
  /** Return false to pause; `resume` continues. */
  onHeaders?: (status: number, resume: () => void) => boolean | undefined;
  onData?: (chunk: Buffer, resume: () => void, abort: (err?: Error) => void) => boolean | undefined;
}

const text = (list: readonly (Buffer | string)[] | null | undefined): string[] => (list ?? []).map((b) => (typeof b === 'string' ? b : b.toString('latin1')));

/** Dispatches on `pool` and resolves with what the handler saw once it completed, failed or upgraded. */
export function dispatchAndRecord(pool: Pick<UpstreamPool, 'dispatch'>, options: Dispatcher.DispatchOptions, hooks: RecordingHooks = {}): Promise<DispatchOutcome> {
  return new Promise((resolve) => {
    const out: DispatchOutcome = { interim: [], status: 0, statusText: '', headers: [], body: Buffer.alloc(0), trailers: null, error: null, upgrade: null, events: [] };
    const chunks: Buffer[] = [];
    let resume: () => void = () => undefined;
    let abort: (err?: Error) => void = () => undefined;
    const handler: Dispatcher.DispatchHandler = {
      onConnect(a) {
        out.events.push('connect');
        abort = a;
      },
      onHeaders(status, headers, r, statusText) {
        out.events.push(`headers ${status}`);
        if (status < 200) {
          out.interim.push({ status, headers: text(headers as unknown as Buffer[]) });
          return true;
        }
        resume = r;
        out.status = status;
        out.statusText = statusText;
        out.headers = text(headers as unknown as Buffer[]);
        return hooks.onHeaders?.(status, r) ?? true;
      },
      onData(chunk) {
        out.events.push('data');
        // A copy: views of a socket chunk may be reused by the pool's caller.
        chunks.push(Buffer.from(chunk));
        return hooks.onData?.(chunk, resume, abort) ?? true;
      },
      onComplete(trailers) {
        out.events.push('complete');
        out.trailers = text(trailers as unknown as Buffer[]);
        out.body = Buffer.concat(chunks);
        resolve(out);
      },
      onError(err) {
        out.events.push('error');
        out.error = err as Error & { code?: string };
        out.body = Buffer.concat(chunks);
        resolve(out);
      },
      onUpgrade(status, headers, socket) {
        out.events.push('upgrade');
        out.upgrade = { status, headers: text(headers as unknown as Buffer[]), socket };
        resolve(out);
      },
    };
    pool.dispatch(options, handler);
  });
}
