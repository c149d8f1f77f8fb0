import { describe, expect, it } from 'vitest';
import { routeSchema } from '../../../src/config/schema.js';
import type { RegistrySnapshot } from '../../../src/registry/service-instance.js';
import { TagRoutes } from '../../../src/routing/tag-routes.js';
import { captureLog } from '../../support/log-capture.js';

const snapshot = (services: Record<string, string[]>): RegistrySnapshot => ({
  services: new Map(Object.entries(services).map(([name, tags]) => [name, { name, tags, instances: [] }])),
});

describe('TagRoutes', () => {
  it('declares one route per urlprefix tag, config routes win, first service wins among tags, problems logged once', () => {
    const log = captureLog();
    const routes = new TagRoutes(log.logger);
    const config = [routeSchema.parse({ name: 'cfg', match: { path: '/taken' }, service: 'x' })];
    const snap = snapshot({ b: ['urlprefix-/dup', 'urlprefix-/b strip=/b', 'other'], a: ['urlprefix-/dup', 'urlprefix-/taken', 'urlprefix-/bad proto=tcp'] });
    const decls = routes.declarations(snap, 'urlprefix-', config);
    expect(decls.map((d) => [d.config.name, d.config.service, d.config.stripPrefix, d.source])).toEqual([
      ['tag:a:/dup', 'a', false, 'tags'],
      ['tag:b:/b', 'b', true, 'tags'],
    ]);
    expect(log.find('conflicts with another route')).toHaveLength(2);
    expect(log.find('route tag ignored')).toHaveLength(1);
    routes.declarations(snap, 'urlprefix-', config);
    expect(log.lines).toHaveLength(3);
    expect(routes.declarations(snap, null, config)).toEqual([]);
  });
});
