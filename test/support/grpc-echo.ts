import * as grpc from '@grpc/grpc-js';

/**
 * A gRPC service for tests, defined without .proto files: messages are UTF-8 strings, so the
 * real @grpc/grpc-js client and server talk through the proxy with the gRPC framing,
 * trailers, deadlines and cancellation of any gRPC service.
 */
const text = {
  requestSerialize: (s: string) => Buffer.from(s, 'utf8'),
  requestDeserialize: (b: Buffer) => b.toString('utf8'),
  responseSerialize: (s: string) => Buffer.from(s, 'utf8'),
  responseDeserialize: (b: Buffer) => b.toString('utf8'),
};

export const echoService = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, ...text },
  serverStream: { path: '/test.Echo/ServerStream', requestStream: false, responseStream: true, ...text },
  clientStream: { path: '/test.Echo/ClientStream', requestStream: true, responseStream: false, ...text },
  bidi: { path: '/test.Echo/Bidi', requestStream: true, responseStream: true, ...text },
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
export type EchoClientInstance = InstanceType<typeof EchoClient> & Record<string, (...args: unknown[]) => unknown>;

/** What the echo server does, per test: the defaults echo; a test may replace any method. */
export interface EchoBehaviour {
  unary(call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>): void;
  serverStream(call: grpc.ServerWritableStream<string, string>): void;
  clientStream(call: grpc.ServerReadableStream<string, string>, callback: grpc.sendUnaryData<string>): void;
  bidi(call: grpc.ServerDuplexStream<string, string>): void;
}

export function defaultEchoBehaviour(): EchoBehaviour {
  return {
    unary(call, callback) {
      const fail = call.metadata.get('x-fail')[0];
      if (fail !== undefined) {
        callback({ code: Number(fail), details: `failed as asked (${String(fail)})` });
        return;
      }
      callback(null, `echo:${call.request}`);
    },
    serverStream(call) {
      const n = Number(call.request);
      for (let i = 0; i < n; i++) call.write(`item ${i}`);
      call.end();
    },
    clientStream(call, callback) {
      const parts: string[] = [];
      call.on('data', (m: string) => parts.push(m));
      call.on('end', () => callback(null, parts.join('+')));
    },
    bidi(call) {
      call.on('data', (m: string) => call.write(`re:${m}`));
      call.on('end', () => call.end());
    },
  };
}

export interface EchoServer {
  server: grpc.Server;
  port: number;
  behaviour: EchoBehaviour;
  close(): Promise<void>;
}

/** An @grpc/grpc-js server on 127.0.0.1 (cleartext HTTP/2) serving the echo service. */
export async function startEchoServer(): Promise<EchoServer> {
  const server = new grpc.Server();
  const behaviour = defaultEchoBehaviour();
  server.addService(echoService, {
    unary: (call: grpc.ServerUnaryCall<string, string>, cb: grpc.sendUnaryData<string>) => behaviour.unary(call, cb),
    serverStream: (call: grpc.ServerWritableStream<string, string>) => behaviour.serverStream(call),
    clientStream: (call: grpc.ServerReadableStream<string, string>, cb: grpc.sendUnaryData<string>) => behaviour.clientStream(call, cb),
    bidi: (call: grpc.ServerDuplexStream<string, string>) => behaviour.bidi(call),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    port,
    behaviour,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** A client of the echo service through `address` (host:port), cleartext HTTP/2. */
export function echoClient(address: string): EchoClientInstance {
  return new EchoClient(address, grpc.credentials.createInsecure()) as EchoClientInstance;
}

export function unaryCall(client: EchoClientInstance, message: string, options: { metadata?: grpc.Metadata; deadline?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const deadline = options.deadline === undefined ? undefined : Date.now() + options.deadline;
    client.unary(message, options.metadata ?? new grpc.Metadata(), { deadline }, (err: grpc.ServiceError | null, reply: string) => (err ? reject(err) : resolve(reply)));
  });
}
