import { createRequire } from 'node:module';

/**
 * llhttp — the HTTP/1.1 parser node:http itself uses — as the WebAssembly build that ships
 * inside undici (node_modules/undici/lib/llhttp). Why this build: it is the same C parser as
 * Node's, kept current by undici's maintainers for every Node release we support, needs no
 * native build, and exports the lenient-flag setters, so strictness is set and checked here
 * rather than assumed (Node's own binding is internal API: `process.binding('http_parser')`).
 * undici is pinned in package-lock.json, so the parser only changes with a reviewed upgrade.
 *
 * One WebAssembly instance serves every parser in the process (each is a small struct in the
 * instance's memory). Input is copied into one shared buffer in that memory and parsed there;
 * callbacks receive offsets, which are mapped back onto the JavaScript chunk, so body data is
 * handed on as views of the chunk that arrived, without a copy.
 */

/** llhttp's error numbers (llhttp.h `llhttp_errno`) that the codecs act on. */
export const enum ParseError {
  OK = 0,
  PAUSED = 21,
  PAUSED_UPGRADE = 22,
  USER = 24,
}

export const enum ParserKind {
  REQUEST = 1,
  RESPONSE = 2,
}

/**
 * What on_headers_complete may return: go on; skip the body (responses to HEAD, 1xx); treat the
 * rest of the stream as another protocol (llhttp stops with PAUSED_UPGRADE); or fail.
 */
export const enum HeadersResult {
  OK = 0,
  SKIP_BODY = 1,
  UPGRADE = 2,
  ERROR = -1,
}

/**
 * The callbacks of one parser. Data callbacks get the chunk being parsed and a [start, end)
 * range in it: a header name or value, URL or status text may arrive in several pieces when
 * it spans chunks. Return 0 to go on, ParseError.PAUSED to stop after this callback, or -1 to
 * fail the parse (ParseError.USER-like, with the reason left to the handler).
 */
export interface ParserHandler {
  onMessageBegin(): number;
  onUrl(chunk: Buffer, start: number, end: number): number;
  onStatus(chunk: Buffer, start: number, end: number): number;
  onHeaderField(chunk: Buffer, start: number, end: number): number;
  onHeaderValue(chunk: Buffer, start: number, end: number): number;
  onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number;
  onBody(chunk: Buffer, start: number, end: number): number;
  onMessageComplete(): number;
}

/** The part of the WebAssembly global used here (the project's TypeScript lib has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface LlhttpExports {
  memory: { buffer: ArrayBuffer };
  _initialize?: () => void;
  llhttp_alloc(kind: number): number;
  llhttp_free(p: number): void;
  malloc(size: number): number;
  free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_resume(p: number): void;
  llhttp_resume_after_upgrade(p: number): void;
  llhttp_reset(p: number): void;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_get_status_code(p: number): number;
  llhttp_get_upgrade(p: number): number;
  llhttp_should_keep_alive(p: number): number;
  llhttp_message_needs_eof(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_error_pos(p: number): number;
  llhttp_errno_name(errno: number): number;
  llhttp_set_lenient_headers(p: number, on: number): void;
  llhttp_set_lenient_chunked_length(p: number, on: number): void;
  llhttp_set_lenient_keep_alive(p: number, on: number): void;
  llhttp_set_lenient_transfer_encoding(p: number, on: number): void;
  llhttp_set_lenient_version(p: number, on: number): void;
  llhttp_set_lenient_data_after_close(p: number, on: number): void;
  llhttp_set_lenient_optional_lf_after_cr(p: number, on: number): void;
  llhttp_set_lenient_optional_crlf_after_chunk(p: number, on: number): void;
  llhttp_set_lenient_optional_cr_before_lf(p: number, on: number): void;
  llhttp_set_lenient_spaces_after_chunk_size(p: number, on: number): void;
}

/** Every lenient setter llhttp has; each is called with 0 on every new parser. */
const LENIENT_SETTERS = [
  'llhttp_set_lenient_headers',
  'llhttp_set_lenient_chunked_length',
  'llhttp_set_lenient_keep_alive',
  'llhttp_set_lenient_transfer_encoding',
  'llhttp_set_lenient_version',
  'llhttp_set_lenient_data_after_close',
  'llhttp_set_lenient_optional_lf_after_cr',
  'llhttp_set_lenient_optional_crlf_after_chunk',
  'llhttp_set_lenient_optional_cr_before_lf',
  'llhttp_set_lenient_spaces_after_chunk_size',
] as const;

/** A lenient flag's name as in its setter: `headers` for llhttp_set_lenient_headers. */
export type LenientFlag = (typeof LENIENT_SETTERS)[number] extends `llhttp_set_lenient_${infer F}` ? F : never;

let wasm: LlhttpExports | null = null;
/** The parser whose execute() is running, and the chunk it parses (callbacks map offsets onto it). */
let current: Http1Parser | null = null;
let currentChunk: Buffer = Buffer.alloc(0);
/** The shared input buffer in wasm memory. */
let inputPtr = 0;
let inputSize = 0;
/**
 * A view of the whole wasm memory, made once rather than per execute() (a typed array and the
 * memory's `buffer` getter per call were about 2 % of a GET's CPU). When the memory grows, its
 * old ArrayBuffer is detached and this view's length drops to 0: it is made again then.
 */
let heap = new Uint8Array(0);

/** The view of wasm memory, remade if the memory grew since (see `heap`). */
function heapView(api: LlhttpExports): Uint8Array {
  if (heap.length === 0) heap = new Uint8Array(api.memory.buffer);
  return heap;
}

function loadLlhttp(): LlhttpExports {
  const require = createRequire(import.meta.url);
  // undici/lib/llhttp/llhttp-wasm.js exports the module's bytes; the SIMD build is used where the engine supports it.
  const simd = require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer;
  const plain = require('undici/lib/llhttp/llhttp-wasm.js') as Buffer | string;
  let module: object;
  try {
    module = new WebAssembly.Module(simd);
  } catch (err) {
    // An engine without WebAssembly SIMD: the plain build parses the same way, a little slower.
    process.emitWarning(`llhttp SIMD build unavailable (${(err as Error).message}); using the plain build`, { code: 'SWITCHYARD_LLHTTP_NO_SIMD' });
    module = new WebAssembly.Module(typeof plain === 'string' ? Buffer.from(plain, 'base64') : plain);
  }
  const instance = new WebAssembly.Instance(module, {
    env: {
      wasm_on_message_begin: (_p: number) => current!.handler.onMessageBegin(),
      wasm_on_url: (_p: number, at: number, len: number) => {
        const start = at - inputPtr;
        return current!.handler.onUrl(currentChunk, start, start + len);
      },
      wasm_on_status: (_p: number, at: number, len: number) => {
        const start = at - inputPtr;
        return current!.handler.onStatus(currentChunk, start, start + len);
      },
      wasm_on_header_field: (_p: number, at: number, len: number) => {
        const start = at - inputPtr;
        return current!.handler.onHeaderField(currentChunk, start, start + len);
      },
      wasm_on_header_value: (_p: number, at: number, len: number) => {
        const start = at - inputPtr;
        return current!.handler.onHeaderValue(currentChunk, start, start + len);
      },
      wasm_on_headers_complete: (_p: number, statusCode: number, upgrade: number, keepAlive: number) =>
        current!.handler.onHeadersComplete(statusCode, upgrade === 1, keepAlive === 1),
      wasm_on_body: (_p: number, at: number, len: number) => {
        const start = at - inputPtr;
        return current!.handler.onBody(currentChunk, start, start + len);
      },
      wasm_on_message_complete: (_p: number) => current!.handler.onMessageComplete(),
    },
  });
  const exports = instance.exports as unknown as LlhttpExports;
  exports._initialize?.();
  return exports;
}

function llhttp(): LlhttpExports {
  return (wasm ??= loadLlhttp());
}

function cString(ptr: number): string {
  if (ptr === 0) return '';
  const memory = new Uint8Array(llhttp().memory.buffer);
  let end = ptr;
  while (memory[end] !== 0) end++;
  return Buffer.from(memory.buffer, ptr, end - ptr).toString('latin1');
}

/**
 * One llhttp parser (a request or a response parser) with every lenient flag off. Not
 * re-entrant: a callback must not execute another parser (none does: socket reads are
 * asynchronous).
 */
export class Http1Parser {
  private ptr: number;
  /** Offset in the last chunk where parsing stopped on an error, a pause or an upgrade. */
  stoppedAt = 0;

  constructor(
    kind: ParserKind,
    readonly handler: ParserHandler,
  ) {
    const api = llhttp();
    this.ptr = api.llhttp_alloc(kind);
    for (const setter of LENIENT_SETTERS) api[setter](this.ptr, 0);
  }

  /**
   * Parses `chunk` (all of it unless a callback pauses, an upgrade stops the parse, or the
   * bytes are not HTTP). Returns ParseError.OK or the llhttp error number; on anything but OK,
   * `stoppedAt` is where in `chunk` parsing stopped.
   */
  execute(chunk: Buffer): number {
    if (current !== null) throw new Error('llhttp parsers are not re-entrant: a callback executed another parser');
    const api = llhttp();
    const length = chunk.length;
    if (length > inputSize) {
      if (inputPtr !== 0) api.free(inputPtr);
      inputSize = Math.ceil(length / 16_384) * 16_384;
      inputPtr = api.malloc(inputSize);
    }
    heapView(api).set(chunk, inputPtr);
    current = this;
    currentChunk = chunk;
    let result: number;
    try {
      result = api.llhttp_execute(this.ptr, inputPtr, length);
    } finally {
      current = null;
    }
    if (result !== ParseError.OK) this.stoppedAt = api.llhttp_get_error_pos(this.ptr) - inputPtr;
    return result;
  }

  /** The peer closed: ends a message whose end is the connection's end (a close-delimited body). */
  finish(): number {
    if (current !== null) throw new Error('llhttp parsers are not re-entrant');
    current = this;
    try {
      return llhttp().llhttp_finish(this.ptr);
    } finally {
      current = null;
    }
  }

  /**
   * Turns one lenient flag on or off. The codecs never turn one on; the strictness check
   * (parser-strictness.ts) uses it to prove that each of its probes is refused because of
   * that flag.
   */
  setLenient(flag: LenientFlag, on: boolean): void {
    llhttp()[`llhttp_set_lenient_${flag}`](this.ptr, on ? 1 : 0);
  }

  /** Continues after a callback returned ParseError.PAUSED. */
  resume(): void {
    llhttp().llhttp_resume(this.ptr);
  }

  /** Back to the start state (the next byte begins a new message), keeping the settings. */
  reset(): void {
    llhttp().llhttp_reset(this.ptr);
  }

  /** llhttp's method number (see METHOD_NAMES). */
  get method(): number {
    return llhttp().llhttp_get_method(this.ptr);
  }

  get httpMajor(): number {
    return llhttp().llhttp_get_http_major(this.ptr);
  }

  get httpMinor(): number {
    return llhttp().llhttp_get_http_minor(this.ptr);
  }

  /** Whether the message just parsed leaves the connection open (Connection header and version). */
  get keepAlive(): boolean {
    return llhttp().llhttp_should_keep_alive(this.ptr) === 1;
  }

  /** Whether the current message's body ends only when the connection does. */
  get needsEof(): boolean {
    return llhttp().llhttp_message_needs_eof(this.ptr) === 1;
  }

  /** llhttp's reason for the last error, e.g. "Invalid header value char". */
  get errorReason(): string {
    return cString(llhttp().llhttp_get_error_reason(this.ptr));
  }

  /** The errno's name, e.g. "HPE_INVALID_HEADER_TOKEN". */
  static errorName(errno: number): string {
    return cString(llhttp().llhttp_errno_name(errno));
  }

  /** Releases the parser's memory; the object must not be used afterwards. */
  free(): void {
    if (this.ptr === 0) return;
    llhttp().llhttp_free(this.ptr);
    this.ptr = 0;
  }
}

/** llhttp's method numbers (llhttp.h `llhttp_method`) → names, for the methods an HTTP request may use. */
export const METHOD_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  const methods: Record<string, number> = {
    DELETE: 0, GET: 1, HEAD: 2, POST: 3, PUT: 4, CONNECT: 5, OPTIONS: 6, TRACE: 7, COPY: 8, LOCK: 9, MKCOL: 10, MOVE: 11,
    PROPFIND: 12, PROPPATCH: 13, SEARCH: 14, UNLOCK: 15, BIND: 16, REBIND: 17, UNBIND: 18, ACL: 19, REPORT: 20,
    MKACTIVITY: 21, CHECKOUT: 22, MERGE: 23, 'M-SEARCH': 24, NOTIFY: 25, SUBSCRIBE: 26, UNSUBSCRIBE: 27, PATCH: 28,
    PURGE: 29, MKCALENDAR: 30, LINK: 31, UNLINK: 32, SOURCE: 33, QUERY: 46,
  };
  for (const [name, n] of Object.entries(methods)) names[n] = name;
  return names;
})();
