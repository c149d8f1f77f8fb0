/**
 * The CLI's client for the admin API: plain HTTP (fetch), no import from the router's code,
 * so the CLI works against any running Switchyard it can reach.
 */
export class AdminClient {
  /** `addressFrom`: where baseUrl came from when not from --admin (a config file), for messages. */
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly addressFrom?: string,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.baseUrl);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause;
      const from = this.addressFrom === undefined ? '' : ` (the address of ${this.addressFrom})`;
      throw new AdminRequestFailed(`cannot reach the admin API at ${this.baseUrl}${from}: ${cause?.message ?? (err as Error).message}; is Switchyard running? Use --admin <host:port> to point elsewhere.`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      throw new AdminRequestFailed(`${method} ${url.pathname}: HTTP ${res.status}, not a JSON answer; is ${this.baseUrl} a Switchyard admin listener?`);
    }
    if (!res.ok) {
      const message = (parsed as { message?: string } | null)?.message ?? text;
      const hint =
        res.status === 401
          ? ' (pass --token or set SWITCHYARD_ADMIN_TOKEN)'
          : res.status === 403 && method !== 'GET'
            ? ' (the token given grants reads only: use admin.token for drain, undrain and reload)'
            : '';
      throw new AdminRequestFailed(`${method} ${url.pathname}: HTTP ${res.status}: ${message}${hint}`);
    }
    return parsed as T;
  }
}

/** An admin API call that failed; the message says why and what to try. */
export class AdminRequestFailed extends Error {
  override readonly name = 'AdminRequestFailed';
}
