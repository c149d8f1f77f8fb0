/** "host:port" or an http(s) URL with no path (the CONSUL_HTTP_ADDR forms). */
export function isConsulAddress(address: string): boolean {
  const withScheme = /^https?:\/\//i.test(address) ? address : `http://${address}`;
  try {
    const url = new URL(withScheme);
    return url.hostname !== '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.username === '';
  } catch {
    return false;
  }
}
