/**
 * The access log's own thread (a worker_threads Worker started by AccessLog): reads request
 * records from the shared AccessLogQueue, writes their JSON lines as bytes (LineBytes), and
 * posts each chunk back to the event loop with the queue positions it covers. The event loop writes
 * the chunk to the log destination (so access lines and the process log share one writer and
 * one bound) and only then frees the records' space: if this thread stops, nothing is lost.
 *
 * Message to the event loop: [from, to, chunk] (chunk's memory transferred).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LineBytes } from './access-log-line-bytes.js';
import { AccessLogLines, type LineShape } from './access-log-lines.js';
import { AccessLogQueue } from './access-log-queue.js';

export interface AccessLogThreadData {
  memory: SharedArrayBuffer;
  capacity: number;
  shape: LineShape;
}

/** How long the thread sleeps when not woken: the longest a line waits on a quiet router. */
const POLL_MS = 10;
/** Bytes per chunk posted back (one write of the log destination). */
const CHUNK_BYTES = 64 * 1024;

function run(port: NonNullable<typeof parentPort>, data: AccessLogThreadData): void {
  const queue = new AccessLogQueue(data.capacity, data.memory);
  const out = new LineBytes(data.shape, CHUNK_BYTES);
  const lines = new AccessLogLines(data.shape);
  const strings: string[] = [];
  const defined: Uint8Array[] = [];
  let position = queue.readHead();
  while (queue.waitForRecords(POLL_MS)) {
    const tail = queue.readTail();
    while (position !== tail) {
      const reached = queue.readBytes(position, tail, out, lines, strings, defined);
      const chunk = out.take();
      if (chunk !== null) port.postMessage([position, reached, chunk], [chunk.buffer as ArrayBuffer]);
      else port.postMessage([position, reached, null]);
      position = reached;
    }
  }
}

if (parentPort !== null) run(parentPort, workerData as AccessLogThreadData);
