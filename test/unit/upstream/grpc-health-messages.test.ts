import { describe, expect, it } from 'vitest';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  grpcFrame,
  servingStatusName,
  unframeSingleMessage,
} from '../../../src/upstream/grpc-health-messages.js';

describe('gRPC health messages (protobuf wire format by hand)', () => {
  it('encodes HealthCheckRequest as protobuf does', () => {
    // Reference bytes: field 1, wire type 2 (0x0a), length, UTF-8.
    expect(encodeHealthCheckRequest('')).toEqual(Buffer.alloc(0));
    expect(encodeHealthCheckRequest('a.B')).toEqual(Buffer.from([0x0a, 0x03, 0x61, 0x2e, 0x42]));
    // A length of 200 needs a two-byte varint (0xc8 0x01).
    const long = 'x'.repeat(200);
    expect(encodeHealthCheckRequest(long).subarray(0, 3)).toEqual(Buffer.from([0x0a, 0xc8, 0x01]));
    expect(decodeHealthCheckRequest(encodeHealthCheckRequest(long))).toBe(long);
    expect(decodeHealthCheckRequest(encodeHealthCheckRequest('grpc.health.v1.Health ✓'))).toBe('grpc.health.v1.Health ✓');
  });

  it('encodes and decodes HealthCheckResponse', () => {
    expect(encodeHealthCheckResponse(0)).toEqual(Buffer.alloc(0));
    expect(encodeHealthCheckResponse(1)).toEqual(Buffer.from([0x08, 0x01]));
    for (const status of [0, 1, 2, 3, 300]) expect(decodeHealthCheckResponse(encodeHealthCheckResponse(status))).toBe(status);
    expect(decodeHealthCheckResponse(Buffer.alloc(0))).toBe(0);
  });

  it('skips unknown fields and keeps the last occurrence, as protobuf decoders do', () => {
    // field 2 varint 7, field 3 fixed32, field 4 fixed64, field 5 bytes "hi", field 1 = 2, field 1 = 1
    const message = Buffer.from([0x10, 0x07, 0x1d, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x2a, 0x02, 0x68, 0x69, 0x08, 0x02, 0x08, 0x01]);
    expect(decodeHealthCheckResponse(message)).toBe(1);
  });

  it('refuses malformed messages, naming the fault', () => {
    expect(() => decodeHealthCheckResponse(Buffer.from([0x08]))).toThrow('truncated varint (field 1) at byte 1');
    expect(() => decodeHealthCheckResponse(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow('longer than 10 bytes');
    expect(() => decodeHealthCheckResponse(Buffer.from([0x0a, 0x01, 0x01]))).toThrow('HealthCheckResponse.status has wire type 2, expected 0 (varint)');
    expect(() => decodeHealthCheckResponse(Buffer.from([0x12, 0x05, 0x01]))).toThrow('field 2 claims 5 bytes, 1 remain');
    expect(() => decodeHealthCheckResponse(Buffer.from([0x0b]))).toThrow('unsupported wire type 3 (field 1)');
    expect(() => decodeHealthCheckResponse(Buffer.from([0x00, 0x01]))).toThrow('field number 0');
    expect(() => decodeHealthCheckResponse(Buffer.from([0x1d, 0x01]))).toThrow('truncated fixed-width field 3');
    expect(() => decodeHealthCheckRequest(Buffer.from([0x08, 0x01]))).toThrow('HealthCheckRequest.service has wire type 0, expected 2 (length-delimited)');
  });

  it('frames and unframes one gRPC message', () => {
    const framed = grpcFrame(Buffer.from([0x08, 0x01]));
    expect(framed).toEqual(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    expect(unframeSingleMessage(framed)).toEqual(Buffer.from([0x08, 0x01]));
    expect(unframeSingleMessage(grpcFrame(Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
  });

  it('refuses bodies that are not one uncompressed message', () => {
    expect(() => unframeSingleMessage(Buffer.alloc(0))).toThrow('empty response body (no gRPC message)');
    expect(() => unframeSingleMessage(Buffer.from([0, 0, 0]))).toThrow('truncated gRPC message prefix (3 of 5 bytes)');
    expect(() => unframeSingleMessage(Buffer.from([1, 0, 0, 0, 2, 0x08, 0x01]))).toThrow('compressed gRPC message');
    expect(() => unframeSingleMessage(Buffer.from([7, 0, 0, 0, 0]))).toThrow('invalid gRPC compressed flag 7');
    expect(() => unframeSingleMessage(Buffer.from([0, 0, 0, 0, 9, 0x08]))).toThrow('truncated gRPC message (prefix says 9 bytes, 1 arrived)');
    expect(() => unframeSingleMessage(Buffer.concat([grpcFrame(Buffer.from([0x08, 0x01])), grpcFrame(Buffer.from([0x08, 0x01]))]))).toThrow('7 bytes after the gRPC message');
  });

  it('names serving statuses', () => {
    expect([0, 1, 2, 3, 9].map(servingStatusName)).toEqual(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN', 'serving status 9']);
  });
});
