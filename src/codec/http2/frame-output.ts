import type { Socket } from 'node:net';
import { FRAME_HEADER_LENGTH, Flag, FrameType } from './frame-types.js';
import { writeFrameHeader } from './frame-writer.js';

/** Bytes of frames gathered in one slab before a new one is taken. */
const SLAB_SIZE = 64 * 1024;
/** Frames and payloads up to this size are copied into the slab; larger ones are written as they are. */
const COPY_LIMIT = 4 * 1024;

/**
 * Slabs no connection holds, shared by every connection of the process: a connection takes one
 * when it gathers its first frame of a turn and gives it back after a flush the kernel took
 * whole, so the memory follows the connections that write in a turn rather than every open
 * connection (an idle HTTP/2 connection holds no slab). At most MAX_FREE_SLABS are kept.
 */
const freeSlabs: Buffer[] = [];
const MAX_FREE_SLABS = 64;

function takeSlab(length: number): Buffer {
  if (length <= SLAB_SIZE) return freeSlabs.pop() ?? Buffer.allocUnsafeSlow(SLAB_SIZE);
  return Buffer.allocUnsafeSlow(length);
}

function giveBackSlab(slab: Buffer): void {
  if (slab.length === SLAB_SIZE && freeSlabs.length < MAX_FREE_SLABS) freeSlabs.push(slab);
}

/**
 * The frames one HTTP/2 connection sends in a turn of the event loop, gathered and written to
 * its socket once, when the turn's reads are done (setImmediate: after every socket read of
 * the poll phase, not after each as process.nextTick would): the HEADERS, DATA and trailers of
 * every stream the turn's reads started or answered, from every client connection and
 * upstream response, leave in one write (one system call) rather than one or more each.
 * Small frames, frame headers and payloads are copied into a slab (taken from a pool the
 * process shares, and given back only after a write the kernel took whole, so a write it has
 * not taken yet stays intact); a large payload is written as its own buffer, in order, with the
 * socket corked around the batch.
 *
 * What is gathered counts as buffered for backpressure (`full`, `queuedBytes`), as the socket's
 * own buffer does, so a connection stops sending at the same point whether a frame has left
 * for the socket yet or not.
 */
export class FrameOutput {
  /** Where this turn's frames gather (null: none gathered since the last complete write). */
  private slab: Buffer | null = null;
  /** Start of the slab region not yet handed to the socket, and its end. */
  private start = 0;
  private used = 0;
  /** Regions and large payloads sealed for this batch, in order (the open slab region follows). */
  private readonly pieces: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  /** Whether the socket, with what is gathered, holds more than its high-water mark. */
  get full(): boolean {
    return this.socket.writableNeedDrain || this.socket.writableLength + this.pendingBytes >= this.socket.writableHighWaterMark;
  }

  /** Bytes gathered here and in the socket's buffer, not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  /** Adds a whole frame (or a payload after its header). */
  write(frame: Buffer): void {
    const length = frame.length;
    if (length > COPY_LIMIT) {
      this.seal();
      this.pieces.push(frame);
      this.pendingBytes += length;
      this.schedule();
      return;
    }
    const pos = this.reserve(length);
    // TypedArray#set on a whole buffer: a V8 builtin, cheaper than Buffer#copy's call into C++.
    this.slab!.set(frame, pos);
  }

  /** Adds `chunk[start, end)` (a DATA payload). */
  writeRange(chunk: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length > COPY_LIMIT) {
      this.write(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
      return;
    }
    const pos = this.reserve(length);
    const slab = this.slab!;
    if (start === 0 && end === chunk.length) slab.set(chunk, pos);
    else chunk.copy(slab, pos, start, end);
  }

  /** Adds a DATA frame header for `length` bytes of `streamId` (the payload follows with writeRange). */
  writeDataHeader(streamId: number, length: number, endStream: boolean): void {
    const pos = this.reserve(FRAME_HEADER_LENGTH);
    writeFrameHeader(this.slab!, pos, length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
  }

  /**
   * Adds the HEADERS (+ CONTINUATION) frames of the block `block[FRAME_HEADER_LENGTH, end)`,
   * split at `maxFrameSize` (what frame-writer's headersFrames builds, without its own buffer).
   */
  writeHeaders(block: Buffer, end: number, streamId: number, endStream: boolean, maxFrameSize: number): void {
    const blockLength = end - FRAME_HEADER_LENGTH;
    const endStreamFlag = endStream ? Flag.END_STREAM : 0;
    const frames = blockLength <= maxFrameSize ? 1 : Math.ceil(blockLength / maxFrameSize);
    let pos = this.reserve(blockLength + frames * FRAME_HEADER_LENGTH);
    const slab = this.slab!;
    let src = FRAME_HEADER_LENGTH;
    for (let i = 0; i < frames; i++) {
      const length = Math.min(maxFrameSize, end - src);
      const last = i === frames - 1;
      const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (i === 0 ? endStreamFlag : 0) | (last ? Flag.END_HEADERS : 0);
      writeFrameHeader(slab, pos, length, type, flags, streamId);
      block.copy(slab, pos + FRAME_HEADER_LENGTH, src, src + length);
      pos += FRAME_HEADER_LENGTH + length;
      src += length;
    }
  }

  /** Writes what is gathered now (before the socket is ended or a last frame written directly). */
  flush(): void {
    this.seal();
    const pieces = this.pieces;
    this.pendingBytes = 0;
    if (pieces.length === 0) return;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) {
      pieces.length = 0;
      return;
    }
    if (pieces.length === 1) {
      socket.write(pieces[0]!);
    } else {
      socket.cork();
      for (let i = 0; i < pieces.length; i++) socket.write(pieces[i]!);
      socket.uncork();
    }
    pieces.length = 0;
    // The kernel took every byte at once (`writableLength` 0 right after the write, as
    // Http1Stream.uncorked explains): no write holds the slab's bytes; it goes back to the pool.
    // Otherwise a queued write references them and the slab stays this connection's, its next
    // frames after them.
    const slab = this.slab;
    if (slab !== null && socket.writableLength === 0 && !socket.writableCorked) {
      this.slab = null;
      giveBackSlab(slab);
    }
  }

  /** Drops what is gathered (the socket is gone; its queued writes may still hold the slab, which is left to them). */
  discard(): void {
    this.pieces.length = 0;
    this.slab = null;
    this.start = 0;
    this.used = 0;
    this.pendingBytes = 0;
  }

  /** Room for `length` bytes at the end of the open slab region; returns where they go. */
  private reserve(length: number): number {
    const slab = this.slab;
    if (slab === null || this.used + length > slab.length) {
      this.seal();
      this.slab = takeSlab(length);
      this.start = 0;
      this.used = 0;
    }
    const pos = this.used;
    this.used += length;
    this.pendingBytes += length;
    this.schedule();
    return pos;
  }

  /** Ends the open slab region: it joins the pieces of this batch, not written over while a write may hold it. */
  private seal(): void {
    if (this.used === this.start) return;
    this.pieces.push(this.slab!.subarray(this.start, this.used));
    this.start = this.used;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(flushOutput, this);
  }

  /** The scheduled flush. */
  flushScheduled(): void {
    this.scheduled = false;
    this.flush();
  }
}

function flushOutput(output: FrameOutput): void {
  output.flushScheduled();
}
