import { describe, expect, it } from 'vitest';
import { LENIENT_PROBES, probeParser, verifyParserStrictness } from '../../../src/codec/parser-strictness.js';

describe('parser strictness check', () => {
  it('the loaded llhttp refuses every probe: the start-up check passes', () => {
    expect(() => verifyParserStrictness()).not.toThrow();
  });

  it.each(LENIENT_PROBES)('probe for lenient_$flag is refused strictly and accepted with that one flag on', ({ flag, input }) => {
    const strict = probeParser(input);
    expect(strict.accepted).toBe(false);
    expect(strict.error).toMatch(/^HPE_/);
    // The probe tests what it says: turning on only its flag makes the parser accept it.
    expect(probeParser(input, flag)).toEqual({ accepted: true, error: '' });
  });

  it('covers every lenient flag llhttp has', () => {
    expect(new Set(LENIENT_PROBES.map((p) => p.flag)).size).toBe(10);
  });
});
