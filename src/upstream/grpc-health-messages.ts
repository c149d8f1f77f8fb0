/**
 * The two messages of the standard gRPC health protocol (grpc.health.v1, health.proto) in
 * protobuf wire format, and the 5-byte gRPC message prefix:
 *
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }   // UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
 *
 * Written by hand: two messages of one field each (a length-delimited string, a varint) do not
 * justify a protobuf library and generated code. Decoders follow protobuf's rules: fields in
 * any order, the last occurrence wins, unknown fields are skipped, anything truncated or of an
 * impossible wire type is an error.
 */

/** HealthCheckResponse.ServingStatus values. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

const SERVING_STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** "SERVING", "NOT_SERVING", ... or "serving status 7" for a value health.proto does not define. */
export function servingStatusName(status: number): string {
  return SERVING_STATUS_NAMES[status] ?? `serving status ${status}`;
}

/** The length of the gRPC message prefix: 1 byte compressed flag, 4 bytes big-endian length. */
export const GRPC_PREFIX_LENGTH = 5;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;
/** Field 1 of both messages. */
const FIELD_1 = 1;

/** Encodes HealthCheckRequest; "" (the server's overall health) is the empty message, as proto3 omits default values. */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const text = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([(FIELD_1 << 3) | WIRE_LENGTH_DELIMITED]), encodeVarint(text.length), text]);
}

/** Decodes HealthCheckRequest to its service name; throws on malformed input. */
export function decodeHealthCheckRequest(message: Buffer): string {
  let service = '';
  forEachField(message, (field, wireType, value) => {
    if (field !== FIELD_1) return;
    if (wireType !== WIRE_LENGTH_DELIMITED || !Buffer.isBuffer(value)) throw new Error(`HealthCheckRequest.service has wire type ${wireType}, expected 2 (length-delimited)`);
    service = value.toString('utf8');
  });
  return service;
}

/** Encodes HealthCheckResponse; UNKNOWN (0) is the empty message. */
export function encodeHealthCheckResponse(status: number): Buffer {
  if (status === 0) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from([(FIELD_1 << 3) | WIRE_VARINT]), encodeVarint(status)]);
}

/** Decodes HealthCheckResponse to its serving status (0 = UNKNOWN when absent); throws on malformed input. */
export function decodeHealthCheckResponse(message: Buffer): number {
  let status = 0;
  forEachField(message, (field, wireType, value) => {
    if (field !== FIELD_1) return;
    if (wireType !== WIRE_VARINT || typeof value !== 'number') throw new Error(`HealthCheckResponse.status has wire type ${wireType}, expected 0 (varint)`);
    status = value;
  });
  return status;
}

/** A gRPC length-prefixed message: flag 0 (not compressed), 4-byte big-endian length, the message. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(GRPC_PREFIX_LENGTH);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * The single message of a unary gRPC response body; throws, naming the fault, when the body is
 * empty, truncated, compressed (none was asked for), or holds more than one message.
 */
export function unframeSingleMessage(body: Buffer): Buffer {
  if (body.length === 0) throw new Error('empty response body (no gRPC message)');
  if (body.length < GRPC_PREFIX_LENGTH) throw new Error(`truncated gRPC message prefix (${body.length} of 5 bytes)`);
  const flag = body[0]!;
  if (flag === 1) throw new Error('compressed gRPC message (no compression was offered)');
  if (flag !== 0) throw new Error(`invalid gRPC compressed flag ${flag} (must be 0 or 1)`);
  const length = body.readUInt32BE(1);
  const end = GRPC_PREFIX_LENGTH + length;
  if (body.length < end) throw new Error(`truncated gRPC message (prefix says ${length} bytes, ${body.length - GRPC_PREFIX_LENGTH} arrived)`);
  if (body.length > end) throw new Error(`${body.length - end} bytes after the gRPC message (a unary response has one message)`);
  return body.subarray(GRPC_PREFIX_LENGTH, end);
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** Calls `visit` for each field: varints as numbers (up to 2^53), length-delimited fields as buffers, fixed fields skipped. */
function forEachField(message: Buffer, visit: (field: number, wireType: number, value: number | Buffer | null) => void): void {
  let offset = 0;
  const readVarint = (what: string): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (offset >= message.length) throw new Error(`truncated varint (${what}) at byte ${offset}`);
      const byte = message[offset++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw new Error(`varint (${what}) too large at byte ${offset}`);
        return value;
      }
      scale *= 128;
    }
    throw new Error(`varint (${what}) longer than 10 bytes at byte ${offset}`);
  };
  while (offset < message.length) {
    const key = readVarint('field key');
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw new Error(`field number 0 at byte ${offset}`);
    switch (wireType) {
      case WIRE_VARINT:
        visit(field, wireType, readVarint(`field ${field}`));
        break;
      case WIRE_LENGTH_DELIMITED: {
        const length = readVarint(`length of field ${field}`);
        if (offset + length > message.length) throw new Error(`field ${field} claims ${length} bytes, ${message.length - offset} remain`);
        visit(field, wireType, message.subarray(offset, offset + length));
        offset += length;
        break;
      }
      case WIRE_FIXED64:
      case WIRE_FIXED32: {
        const length = wireType === WIRE_FIXED64 ? 8 : 4;
        if (offset + length > message.length) throw new Error(`truncated fixed-width field ${field}`);
        visit(field, wireType, null);
        offset += length;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wireType} (field ${field})`);
    }
  }
}
