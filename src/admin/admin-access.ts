import { isLoopbackAddress } from '../config/loopback-address.js';
import type { Logger } from '../observability/logger.js';
import { BearerToken } from './bearer-token.js';
import { STATUS_PAGE_ASSETS } from './status-page.js';

/** Why a request was refused: the status, headers and JSON body to answer with. */
export interface AccessRefusal {
  status: 401 | 403;
  headers: Record<string, string>;
  body: { error: string; message: string };
}

/** Paths that never need a token: the probes, and the status page's own files (they hold no data). */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', ...STATUS_PAGE_ASSETS.keys()]);

const CHALLENGE = { 'www-authenticate': 'Bearer realm="switchyard-admin"' };

/**
 * Who may do what on the admin listener (router, cluster primary):
 * - mutations (POST, DELETE) need `admin.token` when it is set (it is mandatory off loopback);
 * - with `admin.readToken` set, reads need it or `admin.token`, except the open paths
 *   (/healthz, /readyz, the status page's files); without it, reads are open;
 * - a request presenting the read token for a mutation is refused with 403, not 401: the
 *   token is known, it only does not grant that.
 * The presented token is hashed once and compared with each configured token in constant time
 * (bearer-token.ts), every comparison made whatever the first one said.
 */
export class AdminAccess {
  private readonly write: BearerToken | null;
  private readonly read: BearerToken | null;

  constructor(tokens: { token?: string | undefined; readToken?: string | undefined }) {
    this.write = tokens.token ? new BearerToken(tokens.token) : null;
    this.read = tokens.readToken ? new BearerToken(tokens.readToken) : null;
  }

  /** Whether mutations need a token. */
  get mutationsGuarded(): boolean {
    return this.write !== null;
  }

  /** Whether reads (other than the open paths) need a token. */
  get readsGuarded(): boolean {
    return this.read !== null;
  }

  /** Null when a GET or HEAD of `path` may be answered; else the refusal. */
  checkRead(path: string, authorization: string | undefined): AccessRefusal | null {
    if (this.read === null || OPEN_PATHS.has(path)) return null;
    const presented = BearerToken.presented(authorization);
    if (presented !== null && (Number(this.read.matches(presented)) | Number(this.write?.matches(presented) ?? false)) === 1) return null;
    return {
      status: 401,
      headers: CHALLENGE,
      body: { error: 'unauthorized', message: 'reads of this admin API need "Authorization: Bearer <admin.readToken or admin.token>" (admin.readToken is set)' },
    };
  }

  /** Null when a mutation may be applied; else the refusal. */
  checkMutation(authorization: string | undefined): AccessRefusal | null {
    if (this.write === null) return null;
    const presented = BearerToken.presented(authorization);
    if (presented !== null) {
      const write = this.write.matches(presented);
      const read = this.read?.matches(presented) ?? false;
      if (write) return null;
      if (read) return { status: 403, headers: {}, body: { error: 'forbidden', message: 'this token (admin.readToken) grants reads only; admin mutations need admin.token' } };
    }
    return { status: 401, headers: CHALLENGE, body: { error: 'unauthorized', message: 'this admin mutation needs "Authorization: Bearer <admin.token>"' } };
  }
}

/**
 * An admin listener other hosts reach with open reads shows them the routes, endpoints,
 * metrics and (secrets redacted) configuration: worth a warning at start.
 */
export function warnIfReadsOpen(admin: { address: string; port: number; readToken?: string | undefined }, logger: Logger): void {
  if (admin.readToken !== undefined || isLoopbackAddress(admin.address)) return;
  logger.warn(
    { address: admin.address, port: admin.port },
    'admin API reads (routes, endpoints, configuration without its secrets, metrics) are open to every host that reaches the admin listener; set admin.readToken to require a token, or use admin.metricsListener for scrapers',
  );
}
