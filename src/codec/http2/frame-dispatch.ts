import type { FrameSink } from './frame-reader.js';
import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flag, FrameType } from './frame-types.js';

/** One end of an HTTP/2 connection as the frame dispatcher calls it (both codecs implement it). */
export interface FrameHandler {
  /** Who sends the frames, in messages: "client" or "upstream". */
  readonly peer: string;
  /** A header block is open: only its CONTINUATION frames may come (RFC 9113 §6.10). */
  readonly inHeaderBlock: boolean;
  /** The peer's first SETTINGS arrived; before it no other frame may (RFC 9113 §3.4). */
  readonly peerSettingsSeen: boolean;
  connectionError(code: number, message: string): void;
  onData(flags: number, streamId: number, payload: Buffer): void;
  onHeaders(flags: number, streamId: number, payload: Buffer): void;
  onContinuation(flags: number, streamId: number, payload: Buffer): void;
  onSettings(flags: number, streamId: number, payload: Buffer): void;
  onWindowUpdate(streamId: number, payload: Buffer): void;
  /** A PING that asks for an acknowledgement (checked: stream 0, 8 bytes). */
  onPing(payload: Buffer): void;
  onRstStream(streamId: number, payload: Buffer): void;
  /** A GOAWAY (checked: stream 0, at least 8 bytes). */
  onGoaway(payload: Buffer): void;
  /** A PUSH_PROMISE, which neither end accepts: the message of its connection error. */
  readonly pushPromiseRefusal: string;
}

/**
 * Hands one frame to `handler` after the checks that are the same at both ends of a connection:
 * a header block is not interrupted, SETTINGS comes first, PING and PRIORITY and GOAWAY have
 * their sizes and streams, PUSH_PROMISE is refused, unknown types are ignored (RFC 9113 §4.1).
 */
export function dispatchFrame(handler: FrameHandler, type: number, flags: number, streamId: number, payload: Buffer): void {
  const peer = handler.peer;
  if (handler.inHeaderBlock && type !== FrameType.CONTINUATION) {
    handler.connectionError(ErrorCode.PROTOCOL_ERROR, `the ${peer} sent a frame of type ${type} inside a header block (CONTINUATION expected, RFC 9113 §6.10)`);
    return;
  }
  if (!handler.peerSettingsSeen && type !== FrameType.SETTINGS) {
    handler.connectionError(ErrorCode.PROTOCOL_ERROR, `the ${peer}'s first frame is of type ${type}, not SETTINGS (RFC 9113 §3.4)`);
    return;
  }
  switch (type) {
    case FrameType.DATA:
      handler.onData(flags, streamId, payload);
      break;
    case FrameType.HEADERS:
      handler.onHeaders(flags, streamId, payload);
      break;
    case FrameType.CONTINUATION:
      handler.onContinuation(flags, streamId, payload);
      break;
    case FrameType.SETTINGS:
      handler.onSettings(flags, streamId, payload);
      break;
    case FrameType.WINDOW_UPDATE:
      handler.onWindowUpdate(streamId, payload);
      break;
    case FrameType.PING:
      if (streamId !== 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, `the ${peer} sent PING on a stream (RFC 9113 §6.7)`);
      if (payload.length !== 8) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, `the ${peer} sent a PING of ${payload.length} bytes, not 8`);
      if ((flags & Flag.ACK) === 0) handler.onPing(payload);
      break;
    case FrameType.RST_STREAM:
      handler.onRstStream(streamId, payload);
      break;
    case FrameType.GOAWAY:
      if (streamId !== 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, `the ${peer} sent GOAWAY on a stream`);
      if (payload.length < 8) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, `the ${peer} sent a GOAWAY of ${payload.length} bytes, fewer than 8`);
      handler.onGoaway(payload);
      break;
    case FrameType.PUSH_PROMISE:
      handler.connectionError(ErrorCode.PROTOCOL_ERROR, handler.pushPromiseRefusal);
      break;
    case FrameType.PRIORITY:
      if (streamId === 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, `the ${peer} sent PRIORITY on stream 0`);
      if (payload.length !== 5) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, `the ${peer} sent a PRIORITY frame of ${payload.length} bytes, not 5`);
      break; // Priorities are not acted on (RFC 9113 §5.3.2 deprecates them).
    default:
      break; // Unknown frame types are ignored (RFC 9113 §4.1).
  }
}

/** What a connection's FrameReader reports to: every frame through dispatchFrame, an oversized one as the connection error it is. */
export class DispatchingSink implements FrameSink {
  constructor(private readonly handler: FrameHandler) {}

  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    dispatchFrame(this.handler, type, flags, streamId, payload);
  }

  onOversizedFrame(type: number, length: number, streamId: number): void {
    this.handler.connectionError(
      ErrorCode.FRAME_SIZE_ERROR,
      `the ${this.handler.peer} sent a frame (type ${type}, stream ${streamId}) of ${length} bytes, more than our SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`,
    );
  }
}
