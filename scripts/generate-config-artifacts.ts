import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configArtifacts } from './config-artifacts.js';

/** `npm run docs:config`: writes docs/configuration.md and the JSON Schemas from the zod schemas. */
const root = fileURLToPath(new URL('..', import.meta.url));
for (const [path, content] of configArtifacts()) {
  await writeFile(`${root}${path}`, content);
  process.stdout.write(`wrote ${path}\n`);
}
