/** Raised into the upstream pool when the client goes away, so the upstream request is cancelled. */
export class ClientClosedError extends Error {
  readonly code = 'SWITCHYARD_CLIENT_CLOSED';
  constructor() {
    super('the client closed the connection before the response was complete');
  }
}
