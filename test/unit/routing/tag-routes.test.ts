import { describe, expect, it } from 'vitest';
import { routeSchema } from '../../../src/config/schema.js';
import type { RegistrySnapshot } from '../../../src/registry/service-instance.js';
import { fabioShares, TagRoutes } from '../../../src/routing/tag-routes.js';
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

describe('TagRoutes with weight=', () => {
  it('merges the services tagging one route into a weighted split when any tag has weight=', () => {
    const log = captureLog();
    const routes = new TagRoutes(log.logger);
    const snap = snapshot({ v1: ['urlprefix-/shop'], v2: ['urlprefix-/shop weight=0.1'], v3: ['urlprefix-/other'] });
    const decls = routes.declarations(snap, 'urlprefix-', []);
    expect(decls.map((d) => [d.config.name, d.config.service, d.config.backends])).toEqual([
      ['tag:v1+v2:/shop', undefined, [{ service: 'v1', weight: 9000 }, { service: 'v2', weight: 1000 }]],
      ['tag:v3:/other', 'v3', undefined],
    ]);
    expect(log.lines).toHaveLength(0);
  });

  it('leaves out a service whose tag has other options than the first service, and says so', () => {
    const log = captureLog();
    const routes = new TagRoutes(log.logger);
    const snap = snapshot({ a: ['urlprefix-/api strip=/api'], b: ['urlprefix-/api weight=0.5'], c: ['urlprefix-/api strip=/api weight=0.25'] });
    const decls = routes.declarations(snap, 'urlprefix-', []);
    expect(decls.map((d) => d.config.backends)).toEqual([[{ service: 'a', weight: 7500 }, { service: 'c', weight: 2500 }]]);
    expect(log.find('other strip=/host= options')).toHaveLength(1);
  });
});

describe('fabioShares', () => {
  it('follows fabio: fixed shares first, scaled when over 1 or all fixed and under 1, the rest split evenly', () => {
    expect(fabioShares([undefined, 0.2])).toEqual([8000, 2000]);
    expect(fabioShares([undefined, undefined, 0.2])).toEqual([4000, 4000, 2000]);
    expect(fabioShares([0.5, 1.5])).toEqual([2500, 7500]);
    expect(fabioShares([0.1, 0.1])).toEqual([5000, 5000]);
    expect(fabioShares([undefined, 1])).toEqual([0, 10_000]);
    expect(fabioShares([undefined, 0.00001])).toEqual([10_000, 1]);
    expect(fabioShares([undefined, undefined])).toEqual([1, 1]);
  });
});
