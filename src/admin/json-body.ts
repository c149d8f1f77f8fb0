import type { IncomingMessage } from 'node:http';

/** Admin request bodies are small JSON documents. */
const MAX_BODY_BYTES = 64 * 1024;

/** A request body that is too large or not JSON. */
export class BadRequestBody extends Error {
  override readonly name = 'BadRequestBody';
}

/** Reads a JSON body (an empty body is `{}`). */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequestBody(`the request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BadRequestBody(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}
