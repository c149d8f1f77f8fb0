import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configArtifacts } from './config-artifacts.js';
import { errorCodesDoc } from './error-codes-doc.js';

/**
 * `npm run docs:config`: writes docs/configuration.md and the JSON Schemas from the zod schemas,
 * and docs/error-codes.md from the proxy's error table.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
for (const [path, content] of [...configArtifacts(), ['docs/error-codes.md', errorCodesDoc()] as const]) {
  await writeFile(`${root}${path}`, content);
  process.stdout.write(`wrote ${path}\n`);
}
