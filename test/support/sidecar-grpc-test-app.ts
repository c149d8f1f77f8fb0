// A gRPC app for sidecar tests, run as a real process by the sidecar (node --import tsx).
// Port from $PORT. Serves on cleartext HTTP/2 (@grpc/grpc-js):
//   test.Echo (test/support/grpc-echo.ts): Unary answers "echo:<message>@<instance>"; the
//     messages "health:SERVING" and "health:NOT_SERVING" set the overall health status first.
//   grpc.health.v1.Health/Check: the overall status ("" service), SERVING at start.
import * as grpc from '@grpc/grpc-js';
import { ServingStatus } from '../../src/upstream/grpc-health-messages.js';
import { defaultEchoBehaviour, echoService } from './grpc-echo.js';
import { HEALTH_SERVICE } from './grpc-health-server.js';

const port = Number(process.env.PORT);
const instance = process.env.SWITCHYARD_INSTANCE ?? '0';
let status: number = ServingStatus.SERVING;

const echo = defaultEchoBehaviour();
const server = new grpc.Server();
server.addService(echoService, {
  unary: (call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) => {
    const asked = /^health:(SERVING|NOT_SERVING)$/.exec(call.request);
    if (asked) {
      status = ServingStatus[asked[1] as 'SERVING' | 'NOT_SERVING'];
      console.log(`instance ${instance}: health set to ${asked[1]}`);
    }
    callback(null, `echo:${call.request}@${instance}`);
  },
  serverStream: (call: grpc.ServerWritableStream<string, string>) => echo.serverStream(call),
  clientStream: (call: grpc.ServerReadableStream<string, string>, callback: grpc.sendUnaryData<string>) => echo.clientStream(call, callback),
  bidi: (call: grpc.ServerDuplexStream<string, string>) => echo.bidi(call),
});
server.addService(HEALTH_SERVICE, {
  Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, callback: grpc.sendUnaryData<number>) => {
    if (call.request.service !== '') callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
    else callback(null, status);
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(`instance ${instance}: cannot listen on ${port}: ${err.message}`);
    process.exit(1);
  }
  console.log(`instance ${instance} serving gRPC on ${port}`);
});

process.on('SIGTERM', () => {
  console.log(`instance ${instance} received SIGTERM`);
  server.forceShutdown();
  process.exit(0);
});
