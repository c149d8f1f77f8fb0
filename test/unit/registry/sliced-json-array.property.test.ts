import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseArrayInSlices } from '../../../src/registry/consul/sliced-json-array.js';

async function collect(text: string, sliceChars: number): Promise<{ elements: unknown[]; slices: number }> {
  const elements: unknown[] = [];
  let slices = 0;
  await parseArrayInSlices(
    text,
    (part) => {
      slices++;
      elements.push(...part);
    },
    sliceChars,
  );
  return { elements, slices };
}

/** Strings full of what a cut must not be fooled by: quotes, escapes, brackets, commas (and so "},"). */
const tricky = fc.string({ unit: fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', 'a', ' ', '\n', 'é', '\u0000') });
const value = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, tricky, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(tricky, tie('value'), { maxKeys: 3 })),
})).value;
/** The elements of a Consul answer are objects; arrays of other values must come out right too (parsed whole). */
const element = fc.oneof(fc.dictionary(tricky, value, { maxKeys: 4 }), value);

describe('parseArrayInSlices', () => {
  it('gives the elements JSON.parse gives, in order, whatever the slice size and spacing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(element, { maxLength: 40 }), fc.integer({ min: 1, max: 200 }), fc.boolean(), async (array, sliceChars, pretty) => {
        const text = pretty ? JSON.stringify(array, null, 2) : JSON.stringify(array);
        const { elements } = await collect(text, sliceChars);
        expect(elements).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('yields to the event loop between slices of a large array', async () => {
    const text = JSON.stringify(Array.from({ length: 2_000 }, (_, i) => ({ Node: 'n', CheckID: `service:s-${i}`, Output: 'a "quoted" [x], {y}' })));
    // A callback queued for the next turn of the event loop again and again: it runs only when
    // the parse gives the loop back (a timer would need a millisecond to pass, which a fast
    // machine may parse the whole array in).
    let turns = 0;
    let parsing = true;
    const tick = (): void => {
      if (!parsing) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const { elements, slices } = await collect(text, 4_096);
    parsing = false;
    expect(elements).toHaveLength(2_000);
    expect(slices).toBeGreaterThan(10);
    expect(turns).toBeGreaterThan(0);
  });

  it('rejects what is not one JSON array, naming where', async () => {
    for (const text of ['{"a":1}', '[1,2', '[1,]', '[1,2]x', '[1,,2]', '[}', '', '[1, 2]]', '[{"a":1},{"b":2},]']) {
      await expect(collect(text, 1), text).rejects.toThrow(SyntaxError);
    }
    await expect(collect('[{"a":1},{"b":2},]', 1)).rejects.toThrow(/position/);
    expect((await collect('  [ ]  ', 1)).elements).toEqual([]);
  });
});
