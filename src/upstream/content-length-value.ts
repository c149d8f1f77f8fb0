/**
 * A Content-Length field value as a number: 1 to 15 decimal digits (RFC 9110 §8.6: 1*DIGIT;
 * longer values are refused rather than rounded), else -1.
 */
export function contentLengthValue(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
