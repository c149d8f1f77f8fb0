import * as grpc from '@grpc/grpc-js';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  ServingStatus,
} from '../../src/upstream/grpc-health-messages.js';

/**
 * grpc.health.v1.Health defined by hand (no .proto loading): the messages go through the
 * product's own encoder, so a test server and the probe disagree only if the wire format does.
 */
export const HEALTH_SERVICE: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    // An object, not the bare string: grpc-js takes a falsy request ("" = overall health) for none.
    requestSerialize: (request: { service: string }) => encodeHealthCheckRequest(request.service),
    requestDeserialize: (bytes: Buffer) => ({ service: decodeHealthCheckRequest(bytes) }),
    responseSerialize: (status: number) => encodeHealthCheckResponse(status),
    responseDeserialize: (bytes: Buffer) => decodeHealthCheckResponse(bytes),
  },
};

export interface GrpcHealthServerOptions {
  /** Serve grpc.health.v1.Health (default true); without it Check answers UNIMPLEMENTED. */
  health?: boolean;
  /** Default: insecure (h2c). */
  credentials?: grpc.ServerCredentials;
}

/**
 * An @grpc/grpc-js server on 127.0.0.1 with the standard health service: `statuses` maps a
 * service name ("" = overall) to its ServingStatus; a name not in the map answers NOT_FOUND, as
 * the reference health servers do.
 */
export class GrpcHealthServer {
  readonly statuses = new Map<string, number>([['', ServingStatus.SERVING]]);
  /** Check calls answered, by service name asked. */
  readonly checks: string[] = [];

  private constructor(
    readonly name: string,
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  static async start(name: string, options: GrpcHealthServerOptions = {}): Promise<GrpcHealthServer> {
    const server = new grpc.Server();
    let self: GrpcHealthServer | null = null;
    if (options.health !== false) {
      server.addService(HEALTH_SERVICE, {
        Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, callback: grpc.sendUnaryData<number>) => {
          const { service } = call.request;
          self?.checks.push(service);
          const status = self?.statuses.get(service);
          if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}` });
          else callback(null, status);
        },
      });
    }
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    self = new GrpcHealthServer(name, server, port);
    return self;
  }

  close(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }
}
