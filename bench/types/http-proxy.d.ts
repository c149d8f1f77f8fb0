// The subset of http-proxy's API the benchmark baseline uses (the package ships no types).
declare module 'http-proxy' {
  import type { Agent, IncomingMessage, ServerResponse } from 'node:http';

  interface ServerOptions {
    target?: string;
    agent?: Agent;
    xfwd?: boolean;
  }

  interface ProxyServer {
    web(req: IncomingMessage, res: ServerResponse, options?: ServerOptions): void;
    on(event: 'error', listener: (err: Error, req: IncomingMessage, res: ServerResponse) => void): this;
  }

  function createProxyServer(options: ServerOptions): ProxyServer;
  const httpProxy: { createProxyServer: typeof createProxyServer };
  export default httpProxy;
}
