import type { ConnectionOptions } from 'node:tls';
import { buildConnector, Pool, type Dispatcher } from 'undici';

/**
 * A Pool towards an https endpoint whose TLS server name is fixed by configuration, never by
 * the client. undici otherwise takes each request's SNI name (and the name the certificate is
 * checked against) from its Host header — the client's — and reconnects whenever it changes.
 * Here every request carries the same name (`tls.servername`, or the instance address, for
 * which no SNI is sent and the certificate must cover the IP address).
 */
export class TlsPool extends Pool {
  private readonly requestServername: string;

  constructor(origin: string, options: Pool.Options, tls: ConnectionOptions, connectTimeout: number, address: string) {
    const configured = tls.servername;
    const connector = buildConnector({ ...tls, timeout: connectTimeout } as buildConnector.BuildOptions);
    super(origin, {
      ...options,
      connect: (opts, callback) => connector({ ...opts, servername: configured }, callback),
    });
    this.requestServername = configured ?? address;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    (options as Dispatcher.DispatchOptions & { servername?: string }).servername = this.requestServername;
    return super.dispatch(options, handler);
  }
}
