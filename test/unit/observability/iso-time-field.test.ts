import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { IsoTimeField } from '../../../src/observability/iso-time-field.js';

const pinoField = (ms: number): string => `,"time":"${new Date(ms).toISOString()}"`;

describe('IsoTimeField', () => {
  it("writes pino's isoTime field for every millisecond, across second, day and year boundaries", () => {
    const field = new IsoTimeField();
    const starts = [Date.UTC(2026, 10, 30, 5, 11, 23), Date.UTC(2026, 11, 31, 23, 59, 58), Date.UTC(2028, 1, 28, 23, 59, 59), 0];
    for (const start of starts) {
      for (let ms = start; ms < start + 3_000; ms++) expect(field.format(ms)).toBe(pinoField(ms));
    }
    // Going back in time (a clock step) too.
    for (const ms of [Date.UTC(2030, 0, 1), Date.UTC(2026, 0, 1, 0, 0, 0, 999), Date.UTC(2026, 0, 1, 0, 0, 0, 1)]) expect(field.format(ms)).toBe(pinoField(ms));
  });

  it('is what pino.stdTimeFunctions.isoTime writes now', () => {
    const field = new IsoTimeField();
    let compared = 0;
    for (let i = 0; i < 100; i++) {
      const before = Date.now();
      const theirs = pino.stdTimeFunctions.isoTime();
      const after = Date.now();
      // The same millisecond unless the clock moved between the two reads.
      if (before !== after) continue;
      expect(field.format(before)).toBe(theirs);
      compared++;
    }
    expect(compared).toBeGreaterThan(50);
  });
});
