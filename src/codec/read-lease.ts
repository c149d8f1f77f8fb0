/**
 * Lending the memory of one socket read to the body sinks its chunks reach, so that memory can
 * be read into again once they are done with it, instead of every response bringing in memory
 * of its own (64 KiB bodies made V8 promote that memory and run mark-compacts several times a
 * second; docs/performance.md, "Read memory reused").
 *
 * The reader (the HTTP/1.1 upstream connection's onSocketRead) copies each read into a slab and
 * hands the body on as views of it. Around each handler call with such a view, `lending` is
 * true and the chunk is counted as lent. A sink that writes the chunk to a socket and knows
 * the kernel took every byte gives it back (giveBack, naming the read it came from). When every
 * chunk a read lent came back before the next read, and the reader kept no other view of it,
 * the next read is copied over the same memory.
 *
 * The rule is "kept unless given back": a sink that keeps a chunk (an HTTP/2 stream until
 * nghttp2 sends it, a client socket whose write queued, node:http's response, a consumer that
 * collects the body) does nothing, and its chunk's memory is never read into again (the reader
 * moves on past it). So only a sink that is sure no one holds the bytes any more may give a
 * chunk back, and a consumer that keeps a chunk must not also pass it to a sink that gives
 * chunks back. Not re-entrant: one read is lent at a time, on the event loop's thread.
 */
export class ReadLease {
  /** A lent chunk is being delivered (the reader sets it around the handler's call). */
  lending = false;
  /** Which read is being lent (counts up; a give-back for an earlier read is ignored). */
  read = 0;
  /** Chunks of that read lent and not given back. */
  outstanding = 0;

  /** A new read: nothing of it lent yet. */
  begin(): void {
    this.read++;
    this.outstanding = 0;
  }

  /** `count` chunks of read `read` are no longer held by anyone. */
  giveBack(read: number, count: number): void {
    if (read === this.read) this.outstanding -= count;
  }
}

/** The process's one lease: one reader lends at a time (the event loop runs one callback at a time). */
export const readLease = new ReadLease();
