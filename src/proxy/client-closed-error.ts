/** The code of ClientClosedError: a failure with it means the client went away. */
export const CLIENT_CLOSED_CODE = 'SWITCHYARD_CLIENT_CLOSED';

/** Raised into the upstream pool when the client goes away, so the upstream request is cancelled. */
export class ClientClosedError extends Error {
  readonly code = CLIENT_CLOSED_CODE;
  constructor() {
    super('the client closed the connection before the response was complete');
  }
}
