import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { errorCodesDoc } from '../../../scripts/error-codes-doc.js';
import { PROXY_ERRORS } from '../../../src/proxy/proxy-error.js';

describe('docs/error-codes.md', () => {
  it('is the one `npm run docs:config` generates from PROXY_ERRORS', async () => {
    const committed = await readFile('docs/error-codes.md', 'utf8').catch(() => '(missing)');
    expect(committed, 'docs/error-codes.md differs from src/proxy/proxy-error.ts: run npm run docs:config').toBe(errorCodesDoc());
  });

  it('has one row per code, with its status and what to do', () => {
    const doc = errorCodesDoc();
    for (const [code, e] of Object.entries(PROXY_ERRORS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, code).toBeDefined();
      expect(row, code).toContain(`| ${e.status} |`);
      expect(e.action.length, `${code} says what to do`).toBeGreaterThan(20);
    }
  });

  it('is linked from routing.md, which no longer keeps a list of its own', async () => {
    const routing = await readFile('docs/routing.md', 'utf8');
    expect(routing).toContain('](error-codes.md)');
    expect(routing).not.toMatch(/^\| 502 \| `upstream_reset` \|/m);
  });
});
