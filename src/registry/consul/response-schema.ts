/**
 * What ConsulClient needs to validate a parsed JSON body: zod's `safeParse` contract, so a zod
 * schema (the KV entries of the operator state store) and the hand-written checks of the
 * registry's answers (consul-responses.ts) are used alike.
 */
export interface ResponseSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** The type a ResponseSchema accepts. */
export type ResponseOf<S> = S extends ResponseSchema<infer T> ? T : never;

/** A hand-written check's finding: where in the body (keys and indexes) and what is wrong. */
export class ShapeError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
  ) {
    super(message);
    this.name = 'ShapeError';
  }
}

/**
 * Not a check: a read given this schema hands the body on as its text, neither parsed nor
 * validated (for large answers the caller reads in pieces, see json-piece-index.ts).
 */
export const RAW_TEXT: ResponseSchema<string> = {
  safeParse(value: unknown) {
    return { success: true, data: value as string };
  },
};
