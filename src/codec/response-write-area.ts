/**
 * Memory where a client response's head and its small body chunks are put together, so that a
 * whole small response leaves in one socket write of one buffer: no cork, no writev with its
 * per-call array and string storage, no head string kept queued for the socket to encode
 * (docs/performance.md, "One write per small response").
 *
 * One area serves the process (there is one event-loop thread). One stream at a time appends to
 * it (the owner); a stream that starts appending while another owns it has the owner write its
 * bytes first, so each stream's bytes stay contiguous and in order. Written bytes are taken
 * back for the next response only when the write finished at once (the kernel took every byte:
 * the socket's `writableLength` is 0 right after the write, see Http1Stream.uncorked for why
 * that is exact); otherwise the socket's queued write still references them and the area moves
 * on past them. When too little room is left, a new area replaces the old, which is freed once
 * the writes that reference it are done.
 */
export interface AreaWriter {
  /** Writes what this owner appended (the area has a new owner coming). */
  flushArea(): void;
}

/** Bytes of an area. A response head is a few hundred bytes; bodies up to SMALL_CHUNK are copied in. */
const AREA_SIZE = 64 * 1024;

/** The largest body chunk copied into the area; larger ones are written as they are. */
export const SMALL_CHUNK = 8 * 1024;

/** Bytes of one append at most (larger pieces are written to the socket directly). */
export const LARGEST_APPEND = AREA_SIZE / 4;

/** An owner writes its pending bytes before they would pass this, so pending + one append always fit a new area. */
export const MOST_PENDING = AREA_SIZE / 2;

export class ResponseWriteArea {
  buffer: Buffer = Buffer.allocUnsafeSlow(AREA_SIZE);
  /** First free byte. */
  used = 0;
  owner: AreaWriter | null = null;

  /**
   * Makes `writer` the owner, with room for `bytes` more after its pending ones (which start at
   * `pendingFrom`, -1 for none). Returns where the writer's pending bytes start now: the same
   * offset, or 0 of a new area when its pending bytes were moved there.
   */
  claim(writer: AreaWriter, pendingFrom: number, bytes: number): number {
    const owner = this.owner;
    if (owner !== null && owner !== writer) owner.flushArea();
    this.owner = writer;
    if (this.buffer.length - this.used >= bytes) return pendingFrom < 0 ? this.used : pendingFrom;
    // Too little room: a new area, with the pending bytes (at most a few appends) moved over.
    const old = this.buffer;
    const fresh = Buffer.allocUnsafeSlow(AREA_SIZE);
    let moved = 0;
    if (pendingFrom >= 0) moved = old.copy(fresh, 0, pendingFrom, this.used);
    this.buffer = fresh;
    this.used = moved;
    return 0;
  }

  /** The owner's pending bytes [from, used) were written; `taken`: the kernel took them all, so they may be written over. */
  written(writer: AreaWriter, from: number, taken: boolean): void {
    if (this.owner === writer) this.owner = null;
    if (taken) this.used = from;
  }

  /** The owner's pending bytes are dropped unwritten (the stream was cut). */
  dropped(writer: AreaWriter, from: number): void {
    if (this.owner !== writer) return;
    this.owner = null;
    this.used = from;
  }
}

/** The process's one area. */
export const responseWriteArea = new ResponseWriteArea();
