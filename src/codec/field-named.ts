/** Whether a field name's (or a token value's) bytes spell `lower`, a lower-case string, ignoring ASCII case. */
export function fieldNamed(name: Buffer, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = name[i]!;
    if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}
