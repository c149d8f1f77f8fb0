import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, Setting } from './frame-types.js';

/** A connection error found in a frame: the GOAWAY code and what to log. */
export interface FrameProblem {
  readonly code: number;
  readonly message: string;
}

/** What the peer's SETTINGS change on our side of a connection (both HTTP/2 codecs implement it). */
export interface PeerSettingsTarget {
  /** The peer's initial stream window, as last set (starts at 65,535). */
  peerInitialWindow: number;
  maxFrameSize: number;
  /** The send windows of the open streams, which a new initial window changes (RFC 9113 §6.9.2). */
  openStreams(): Iterable<{ sendWindow: number }>;
  /** SETTINGS_MAX_CONCURRENT_STREAMS (a server's limit matters to the client codec only). */
  maxConcurrentStreams(value: number): void;
  /** Send windows grew: streams waiting for them may go on. */
  unblock(): void;
}

/**
 * Applies a SETTINGS frame's payload (not an ACK) from `peer` ("client", "upstream") to `target`,
 * with RFC 9113 §6.5.2's checks; null when it was applied whole, else the connection error to
 * send. HEADER_TABLE_SIZE needs nothing (our encoders never use the dynamic table),
 * MAX_HEADER_LIST_SIZE is advisory, unknown settings are ignored.
 */
export function applyPeerSettings(payload: Buffer, peer: string, target: PeerSettingsTarget): FrameProblem | null {
  if (payload.length % 6 !== 0) return { code: ErrorCode.FRAME_SIZE_ERROR, message: `the ${peer} sent SETTINGS of ${payload.length} bytes, not a multiple of 6` };
  for (let pos = 0; pos < payload.length; pos += 6) {
    const id = payload.readUInt16BE(pos);
    const value = payload.readUInt32BE(pos + 2);
    switch (id) {
      case Setting.ENABLE_PUSH:
        if (value > 1) return { code: ErrorCode.PROTOCOL_ERROR, message: `the ${peer} sent SETTINGS_ENABLE_PUSH ${value}` };
        break;
      case Setting.MAX_CONCURRENT_STREAMS:
        target.maxConcurrentStreams(value);
        break;
      case Setting.INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW_SIZE) return { code: ErrorCode.FLOW_CONTROL_ERROR, message: `the ${peer} sent SETTINGS_INITIAL_WINDOW_SIZE ${value}, above 2^31-1` };
        const delta = value - target.peerInitialWindow;
        target.peerInitialWindow = value;
        for (const stream of target.openStreams()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > MAX_WINDOW_SIZE) return { code: ErrorCode.FLOW_CONTROL_ERROR, message: 'a SETTINGS_INITIAL_WINDOW_SIZE change took a stream window above 2^31-1' };
        }
        if (delta > 0) target.unblock();
        break;
      }
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) return { code: ErrorCode.PROTOCOL_ERROR, message: `the ${peer} sent SETTINGS_MAX_FRAME_SIZE ${value}, outside 16384..16777215` };
        target.maxFrameSize = value;
        break;
      default:
        break;
    }
  }
  return null;
}

/**
 * A WINDOW_UPDATE's increment, or the connection error its size or a zero increment on the
 * connection (stream 0) is (RFC 9113 §6.9). A zero increment on a stream is returned as 0: it
 * is a stream error, which the codec answers on that stream.
 */
export function windowIncrement(payload: Buffer, streamId: number, peer: string): number | FrameProblem {
  if (payload.length !== 4) return { code: ErrorCode.FRAME_SIZE_ERROR, message: `the ${peer} sent a WINDOW_UPDATE of ${payload.length} bytes, not 4` };
  const increment = payload.readUInt32BE(0) & 0x7fffffff;
  if (increment === 0 && streamId === 0) return { code: ErrorCode.PROTOCOL_ERROR, message: `the ${peer} sent a connection WINDOW_UPDATE of 0` };
  return increment;
}
