import { formatIpv4, formatIpv6, IPV4, IPV6, parseIpAddress } from '../config/ip-address.js';

/**
 * HAProxy's PROXY protocol header (versions 1 and 2), read strictly from the first bytes of a
 * connection: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 *
 * Version 1 is one text line: "PROXY TCP4 <src> <dst> <srcport> <dstport>\r\n" (TCP6 likewise,
 * or "PROXY UNKNOWN ...\r\n"), at most 107 bytes. Single spaces, addresses of the named family
 * in strict text (ip-address.ts), ports 0–65535 in decimal without leading zeros; any other
 * byte, a missing CRLF within 107 bytes or a bare CR refuses the connection.
 *
 * Version 2 is binary: a 12-byte signature, version/command, family/transport, a 16-bit length,
 * then the addresses and TLVs. Version must be 2, command LOCAL or PROXY, family UNSPEC, INET,
 * INET6 or UNIX, transport UNSPEC or STREAM (PROXY over DGRAM is refused: listeners serve TCP),
 * the length must cover the family's address block, and the TLVs must fill the rest exactly.
 * TLVs are checked for shape and otherwise ignored. The whole header is at most
 * `PROXY_V2_MAX_BYTES`.
 *
 * LOCAL (v2), UNKNOWN (v1), UNSPEC and UNIX give no client address: the connection keeps its
 * TCP peer as such (the protocol says so for LOCAL, UNKNOWN and UNSPEC; a Unix socket path is
 * not an address the router can log or limit by).
 */
export type ProxyHeaderReading =
  /** The bytes so far are a prefix of a header (or of its signature): wait for more. */
  | { readonly kind: 'more' }
  /** The connection does not start with a PROXY header. */
  | { readonly kind: 'none' }
  /** It starts with a PROXY signature, but what follows is not a valid header. */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** A valid header of `length` bytes; `clientAddress` null: keep the TCP peer. */
  | { readonly kind: 'header'; readonly version: 1 | 2; readonly length: number; readonly clientAddress: string | null };

/** Longest version 1 header, CRLF included (the protocol's bound). */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * Longest version 2 header accepted: 16 bytes, the largest address block (UNIX, 216 bytes) and
 * room for the TLVs load balancers send (AWS, Azure and GCP send well under 1 KiB).
 */
export const PROXY_V2_MAX_BYTES = 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
/** Address block bytes per v2 family (UNSPEC, INET, INET6, UNIX). */
const V2_ADDRESS_BYTES = [0, 12, 36, 216];
const NEED_MORE: ProxyHeaderReading = { kind: 'more' };
const NONE: ProxyHeaderReading = { kind: 'none' };

/** Reads the header at the start of `bytes` (everything the connection has sent so far). */
export function readProxyHeader(bytes: Buffer): ProxyHeaderReading {
  if (bytes.length === 0) return NEED_MORE;
  if (bytes[0] === V1_PREFIX[0]) return readV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return readV2(bytes);
  return NONE;
}

/** Whether `bytes` begins with `signature`: 'yes', 'no', or 'more' when it is a shorter prefix of it. */
function startsWith(bytes: Buffer, signature: Buffer): 'yes' | 'no' | 'more' {
  const n = Math.min(bytes.length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return 'no';
  return n === signature.length ? 'yes' : 'more';
}

function invalid(reason: string): ProxyHeaderReading {
  return { kind: 'invalid', reason };
}

function readV1(bytes: Buffer): ProxyHeaderReading {
  const signature = startsWith(bytes, V1_PREFIX);
  if (signature !== 'yes') return signature === 'no' ? NONE : NEED_MORE;
  let end = -1;
  // A CR past offset 105 leaves no room for its LF within the 107 bytes.
  const limit = Math.min(bytes.length, PROXY_V1_MAX_BYTES - 1);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = bytes[i]!;
    if (c === 0x0d) {
      if (i + 1 === bytes.length) return NEED_MORE;
      if (bytes[i + 1] !== 0x0a) return invalid('v1 header: CR not followed by LF');
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid(`v1 header: byte 0x${c.toString(16).padStart(2, '0')} at offset ${i} is not printable ASCII`);
  }
  if (end < 0) return bytes.length >= PROXY_V1_MAX_BYTES - 1 ? invalid(`v1 header: no CRLF within ${PROXY_V1_MAX_BYTES} bytes`) : NEED_MORE;
  const length = end + 2;
  const line = bytes.toString('latin1', V1_PREFIX.length, end);
  // "UNKNOWN" may be followed by anything up to the CRLF; the receiver ignores it.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { kind: 'header', version: 1, length, clientAddress: null };
  const fields = line.split(' ');
  const protocol = fields[0]!;
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid(`v1 header: protocol "${protocol.slice(0, 16)}" is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 5) return invalid(`v1 header: ${protocol} needs source, destination, source port and destination port separated by single spaces`);
  const family = protocol === 'TCP4' ? IPV4 : IPV6;
  const groups = new Uint16Array(8);
  const source = fields[1]!;
  if (parseIpAddress(source, 0, source.length, groups) !== family) return invalid(`v1 header: source "${source}" is not an ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'} address`);
  const sourceText = family === IPV4 ? source : formatIpv6(groups);
  const destination = fields[2]!;
  if (parseIpAddress(destination, 0, destination.length, groups) !== family) {
    return invalid(`v1 header: destination "${destination}" is not an ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'} address`);
  }
  if (!isPort(fields[3]!)) return invalid(`v1 header: source port "${fields[3]}" is not a number 0-65535 without leading zeros`);
  if (!isPort(fields[4]!)) return invalid(`v1 header: destination port "${fields[4]}" is not a number 0-65535 without leading zeros`);
  return { kind: 'header', version: 1, length, clientAddress: sourceText };
}

function isPort(text: string): boolean {
  if (text.length === 0 || text.length > 5) return false;
  if (text.length > 1 && text.charCodeAt(0) === 48 /* 0 */) return false;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    value = value * 10 + d;
  }
  return value <= 65535;
}

function readV2(bytes: Buffer): ProxyHeaderReading {
  const signature = startsWith(bytes, V2_SIGNATURE);
  if (signature !== 'yes') return signature === 'no' ? NONE : NEED_MORE;
  if (bytes.length < V2_FIXED) return NEED_MORE;
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  if (version !== 2) return invalid(`v2 header: version ${version} (only 2 exists)`);
  if (command > 1) return invalid(`v2 header: command ${command} is neither LOCAL (0) nor PROXY (1)`);
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  if (family > 3) return invalid(`v2 header: address family ${family} is not UNSPEC, INET, INET6 or UNIX`);
  if (transport > 2) return invalid(`v2 header: transport ${transport} is not UNSPEC, STREAM or DGRAM`);
  const rest = bytes.readUInt16BE(14);
  const length = V2_FIXED + rest;
  if (length > PROXY_V2_MAX_BYTES) return invalid(`v2 header: ${length} bytes, over the ${PROXY_V2_MAX_BYTES} accepted`);
  const addressBytes = V2_ADDRESS_BYTES[family]!;
  if (rest < addressBytes) return invalid(`v2 header: length ${rest} is shorter than the ${addressBytes}-byte address block of its family`);
  if (bytes.length < length) return NEED_MORE;
  // TLVs: type (1 byte), length (2), value; they must fill the block exactly.
  for (let at = V2_FIXED + addressBytes; at < length; ) {
    if (at + 3 > length) return invalid(`v2 header: TLV at offset ${at} is cut short`);
    const next = at + 3 + bytes.readUInt16BE(at + 1);
    if (next > length) return invalid(`v2 header: TLV at offset ${at} runs past the header`);
    at = next;
  }
  if (command === 0 /* LOCAL */) return { kind: 'header', version: 2, length, clientAddress: null };
  if (transport === 2 /* DGRAM */) return invalid('v2 header: PROXY over DGRAM (UDP) on a TCP listener');
  if (family === 1 /* INET */) return { kind: 'header', version: 2, length, clientAddress: formatIpv4(bytes.readUInt32BE(V2_FIXED)) };
  if (family === 2 /* INET6 */) {
    const groups = new Uint16Array(8);
    for (let g = 0; g < 8; g++) groups[g] = bytes.readUInt16BE(V2_FIXED + 2 * g);
    return { kind: 'header', version: 2, length, clientAddress: formatIpv6(groups) };
  }
  return { kind: 'header', version: 2, length, clientAddress: null };
}
