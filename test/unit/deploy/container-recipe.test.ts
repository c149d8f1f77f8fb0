import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The container recipe installs with deploy/install-package.sh (the script the packaging test
 * runs, test/integration/packaging/install-package.test.ts) and runs as a non-root user on a
 * Node LTS image. No container runtime is needed to check that.
 */

const recipe = await readFile(new URL('../../../deploy/container/Containerfile', import.meta.url), 'utf8');
const instructions = recipe
  .split('\n')
  .filter((l) => /^[A-Z]+ /.test(l))
  .map((l) => l.trim());

describe('deploy/container/Containerfile', () => {
  it('installs the package with deploy/install-package.sh after npm ci', () => {
    const ci = instructions.indexOf('RUN npm ci --no-audit --no-fund');
    const install = instructions.indexOf('RUN deploy/install-package.sh /opt/switchyard');
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(install).toBeGreaterThan(ci);
  });

  it('copies only paths that exist in the source tree (the build context)', () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const sources = instructions
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.slice(5).trim().split(/\s+/).slice(0, -1))
      .filter((path) => path !== '.');
    expect(sources.length).toBeGreaterThan(0);
    for (const path of sources) expect(existsSync(root + path), `COPY ${path}`).toBe(true);
  });

  it('runs on a Node LTS (even major) image as a non-root user, with the state folder as a volume', () => {
    const image = /^ARG NODE_IMAGE=\S+\/node:(\d+)-/m.exec(recipe);
    expect(image).not.toBeNull();
    expect(Number(image![1]) % 2).toBe(0);
    const users = instructions.filter((l) => l.startsWith('USER '));
    expect(users).toEqual(['USER node']);
    expect(instructions.indexOf('USER node')).toBeGreaterThan(instructions.findLastIndex((l) => l.startsWith('FROM ')));
    expect(recipe).toContain('STATE_DIRECTORY=/var/lib/switchyard');
    expect(instructions).toContain('VOLUME ["/var/lib/switchyard"]');
    expect(instructions).toContain('ENTRYPOINT ["switchyard"]');
  });
});
