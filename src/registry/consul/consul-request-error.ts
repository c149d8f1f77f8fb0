/** Why a request to Consul failed. */
export type ConsulErrorKind =
  /** Connection refused, reset or dropped. */
  | 'unreachable'
  /** No answer within the allowed time. */
  | 'timeout'
  /** 403: the ACL token is unknown or lacks permission. */
  | 'acl'
  /** Another non-2xx status (500 "No cluster leader", 429 rate limited, ...). */
  | 'status'
  /** 200 with a body that is not the JSON Consul sends, or no X-Consul-Index. */
  | 'garbage';

/** A failed Consul request, with a message that names the address and what to do. */
export class ConsulRequestError extends Error {
  constructor(
    readonly kind: ConsulErrorKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'ConsulRequestError';
  }
}
