import { isIP } from 'node:net';

/**
 * Whether a listen address only accepts connections from this host: 127.0.0.0/8, ::1,
 * IPv4-mapped loopback, or "localhost". "0.0.0.0" and "::" (all interfaces) are not.
 */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
