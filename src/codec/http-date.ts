/**
 * The Date header value (IMF-fixdate), formatted at most once a second: every response head
 * carries one (RFC 9110 §6.6.1), and formatting a date per response would cost more than the
 * rest of the head.
 */
let second = -1;
let value = '';

export function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== second) {
    second = s;
    value = new Date(s * 1000).toUTCString();
  }
  return value;
}
