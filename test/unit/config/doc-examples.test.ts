import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { parseServicesFile } from '../../../src/registry/services-file.js';

/** Every ```yaml block of README.md and docs/*.md, with the file it is in. */
async function yamlExamples(): Promise<Array<{ file: string; text: string }>> {
  const files = ['README.md', ...(await readdir('docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out: Array<{ file: string; text: string }> = [];
  for (const file of files) {
    const doc = await readFile(file, 'utf8');
    for (const m of doc.matchAll(/```yaml\n([\s\S]*?)```/g)) out.push({ file, text: m[1]! });
  }
  return out;
}

/** A services file (file registry) rather than a configuration: services with instances at the top. */
const isServicesFile = (text: string) => /^services:\n(?:\s.*\n)*?\s+instances:/m.test(text) && !/^(routes|registry|listeners):/m.test(text);

describe('YAML examples in the documentation', () => {
  it('are valid: configurations parse with the configuration schema, services files with theirs', async () => {
    const examples = await yamlExamples();
    expect(examples.length).toBeGreaterThanOrEqual(8);
    for (const { file, text } of examples) {
      if (isServicesFile(text)) expect(parseServicesFile(file, text).services.size, `${file}:\n${text}`).toBeGreaterThan(0);
      else expect(() => parseConfigText(file, text), `${file}:\n${text}`).not.toThrow();
    }
  });
});
