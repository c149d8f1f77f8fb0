import { describe, expect, it } from 'vitest';
import { PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES, readProxyHeader } from '../../../src/proxy/proxy-protocol-header.js';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: version/command byte, family/transport byte, then the block after the length. */
function v2(verCmd: number, famProto: number, block: number[], lengthOverride?: number): Buffer {
  const length = lengthOverride ?? block.length;
  return Buffer.from([...SIG, verCmd, famProto, length >> 8, length & 0xff, ...block]);
}
const INET_BLOCK = [203, 0, 113, 7, 192, 0, 2, 1, 0x1f, 0x90, 0x00, 0x50];
const INET6_BLOCK = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x01, ...Array(15).fill(0), 0x02, 0x1f, 0x90, 0x01, 0xbb];

const ascii = (s: string) => Buffer.from(s, 'latin1');

describe('PROXY protocol v1', () => {
  it('reads TCP4 and TCP6 headers and says how long they are', () => {
    const h = ascii('PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\nGET / HTTP/1.1\r\n');
    expect(readProxyHeader(h)).toEqual({ kind: 'header', version: 1, length: 44, clientAddress: '203.0.113.7' });
    expect(readProxyHeader(ascii('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 0 65535\r\n'))).toEqual({ kind: 'header', version: 1, length: 45, clientAddress: '2001:db8::1' });
  });

  it('takes UNKNOWN (with or without addresses after it) as "keep the peer"', () => {
    expect(readProxyHeader(ascii('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'header', version: 1, length: 15, clientAddress: null });
    expect(readProxyHeader(ascii('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).toMatchObject({ kind: 'header', clientAddress: null });
  });

  it('asks for more while the bytes are a prefix of a header, byte by byte', () => {
    const h = ascii('PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n');
    for (let n = 1; n < h.length; n++) expect(readProxyHeader(h.subarray(0, n)).kind).toBe('more');
    expect(readProxyHeader(h).kind).toBe('header');
  });

  it('tells a request apart from a header at the first byte that differs', () => {
    expect(readProxyHeader(ascii('GET / HTTP/1.1\r\n')).kind).toBe('none');
    expect(readProxyHeader(ascii('POST / HTTP/1.1\r\n')).kind).toBe('none');
    expect(readProxyHeader(ascii('PROXZ')).kind).toBe('none');
    expect(readProxyHeader(Buffer.from([0x16, 0x03, 0x01])).kind).toBe('none'); // TLS ClientHello
  });

  it.each([
    ['PROXY TCP4 203.0.113.07 192.0.2.1 1 2\r\n', /source "203.0.113.07" is not an IPv4/],
    ['PROXY TCP4 ::1 192.0.2.1 1 2\r\n', /source "::1" is not an IPv4/],
    ['PROXY TCP6 192.0.2.1 ::1 1 2\r\n', /source "192.0.2.1" is not an IPv6/],
    ['PROXY TCP4 192.0.2.1 192.0.2.256 1 2\r\n', /destination "192.0.2.256"/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n', /source port "01"/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n', /destination port "65536"/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n', /source port "-1"/],
    ['PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n', /single spaces/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n', /single spaces/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n', /single spaces/],
    ['PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n', /protocol "UDP4" is not TCP4, TCP6 or UNKNOWN/],
    ['PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n', /protocol "tcp4"/],
    ['PROXY \r\n', /protocol "" is not/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX', /CR not followed by LF/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n', /byte 0x0a at offset 34/],
    ['PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n', /byte 0x09/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\u00ff\r\n', /byte 0xff/],
  ])('refuses %j', (text, reason) => {
    const r = readProxyHeader(ascii(text));
    expect(r.kind).toBe('invalid');
    expect((r as { reason: string }).reason).toMatch(reason);
  });

  it('refuses a line with no CRLF within 107 bytes, and accepts one of exactly 107', () => {
    const long = ascii(`PROXY UNKNOWN ${'x'.repeat(200)}`);
    expect(readProxyHeader(long.subarray(0, PROXY_V1_MAX_BYTES - 2)).kind).toBe('more');
    expect(readProxyHeader(long)).toEqual({ kind: 'invalid', reason: 'v1 header: no CRLF within 107 bytes' });
    const exact = ascii(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_BYTES - 16)}\r\n`);
    expect(exact.length).toBe(PROXY_V1_MAX_BYTES);
    expect(readProxyHeader(exact)).toMatchObject({ kind: 'header', length: PROXY_V1_MAX_BYTES });
    const over = ascii(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_BYTES - 15)}\r\n`);
    expect(readProxyHeader(over).kind).toBe('invalid');
  });
});

describe('PROXY protocol v2', () => {
  it('reads PROXY over TCP/IPv4 and TCP/IPv6, with the bytes after it left alone', () => {
    const h = Buffer.concat([v2(0x21, 0x11, INET_BLOCK), ascii('GET /')]);
    expect(readProxyHeader(h)).toEqual({ kind: 'header', version: 2, length: 28, clientAddress: '203.0.113.7' });
    expect(readProxyHeader(v2(0x21, 0x21, INET6_BLOCK))).toEqual({ kind: 'header', version: 2, length: 52, clientAddress: '2001:db8::1' });
  });

  it('keeps the peer for LOCAL (health checks), UNSPEC and UNIX', () => {
    expect(readProxyHeader(v2(0x20, 0x00, []))).toEqual({ kind: 'header', version: 2, length: 16, clientAddress: null });
    expect(readProxyHeader(v2(0x20, 0x11, INET_BLOCK))).toMatchObject({ kind: 'header', clientAddress: null });
    expect(readProxyHeader(v2(0x21, 0x00, []))).toMatchObject({ kind: 'header', clientAddress: null });
    expect(readProxyHeader(v2(0x21, 0x31, Array(216).fill(0x61)))).toMatchObject({ kind: 'header', length: 232, clientAddress: null });
  });

  it('skips well-formed TLVs after the addresses', () => {
    const tlvs = [0x04, 0x00, 0x03, 0x61, 0x62, 0x63, 0xea, 0x00, 0x00];
    expect(readProxyHeader(v2(0x21, 0x11, [...INET_BLOCK, ...tlvs]))).toMatchObject({ kind: 'header', length: 37, clientAddress: '203.0.113.7' });
  });

  it('asks for more until the whole header is in, byte by byte', () => {
    const h = v2(0x21, 0x21, INET6_BLOCK);
    for (let n = 1; n < h.length; n++) expect(readProxyHeader(h.subarray(0, n)).kind).toBe('more');
  });

  it('tells other bytes apart from the signature', () => {
    expect(readProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0b])).kind).toBe('none');
    expect(readProxyHeader(ascii('\r\n\r\n')).kind).toBe('more');
    expect(readProxyHeader(ascii('\r\nGET')).kind).toBe('none');
  });

  it.each([
    ['version 1', v2(0x11, 0x11, INET_BLOCK), /version 1 \(only 2 exists\)/],
    ['version 3', v2(0x31, 0x11, INET_BLOCK), /version 3/],
    ['command 2', v2(0x22, 0x11, INET_BLOCK), /command 2 is neither LOCAL/],
    ['family 4', v2(0x21, 0x41, INET_BLOCK), /address family 4/],
    ['transport 3', v2(0x21, 0x13, INET_BLOCK), /transport 3/],
    ['PROXY over UDP', v2(0x21, 0x12, INET_BLOCK), /DGRAM/],
    ['an IPv4 block cut short', v2(0x21, 0x11, INET_BLOCK.slice(0, 8)), /length 8 is shorter than the 12-byte address block/],
    ['an IPv6 block cut short', v2(0x21, 0x21, INET_BLOCK), /length 12 is shorter than the 36-byte/],
    ['a TLV header cut short', v2(0x21, 0x11, [...INET_BLOCK, 0x04, 0x00]), /TLV at offset 28 is cut short/],
    ['a TLV value running past the header', v2(0x21, 0x11, [...INET_BLOCK, 0x04, 0x00, 0x09, 0x61]), /TLV at offset 28 runs past/],
  ])('refuses %s', (_what, bytes, reason) => {
    const r = readProxyHeader(bytes);
    expect(r.kind).toBe('invalid');
    expect((r as { reason: string }).reason).toMatch(reason);
  });

  it('refuses an oversized header from its length field, before its bytes arrive', () => {
    const head = v2(0x21, 0x11, INET_BLOCK, PROXY_V2_MAX_BYTES); // 16 + 2048 declared
    expect(readProxyHeader(head)).toEqual({ kind: 'invalid', reason: `v2 header: ${PROXY_V2_MAX_BYTES + 16} bytes, over the ${PROXY_V2_MAX_BYTES} accepted` });
    const largest = v2(0x21, 0x11, [...INET_BLOCK, 0x04, (PROXY_V2_MAX_BYTES - 31) >> 8, (PROXY_V2_MAX_BYTES - 31) & 0xff, ...Array(PROXY_V2_MAX_BYTES - 31).fill(0)]);
    expect(largest.length).toBe(PROXY_V2_MAX_BYTES);
    expect(readProxyHeader(largest)).toMatchObject({ kind: 'header', length: PROXY_V2_MAX_BYTES });
  });
});
