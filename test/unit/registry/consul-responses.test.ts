import { describe, expect, it } from 'vitest';
import { catalogServicesSchema, healthServiceSchema, healthStateSchema } from '../../../src/registry/consul/consul-responses.js';
import type { ResponseSchema } from '../../../src/registry/consul/response-schema.js';

/** One /v1/health/service entry with the fields of Consul's API docs sample (trimmed), plus what Consul may add. */
function entry(service: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Node: { ID: '40e4a748', Node: 'node-1', Address: '10.1.10.12', Datacenter: 'dc1', TaggedAddresses: { lan: '10.1.10.12' }, Meta: { instance_type: 't2.medium' } },
    Service: { ID: 'redis', Service: 'redis', Tags: ['primary'], Address: '10.1.10.12', Port: 8000, Meta: { redis_version: '4.0' }, Weights: { Passing: 10, Warning: 1 }, Namespace: 'default', ...service },
    Checks: [
      { Node: 'node-1', CheckID: 'service:redis', Name: 'Service redis check', Status: 'passing', ServiceID: 'redis', ServiceName: 'redis', ServiceTags: ['primary'] },
      { Node: 'node-1', CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing', ServiceID: '', ServiceName: '' },
    ],
    ...extra,
  };
}

function problem(result: ReturnType<ResponseSchema<unknown>['safeParse']>): string {
  if (result.success) return 'accepted';
  const issue = result.error.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

describe('Consul answer shapes', () => {
  it('accepts a health answer as Consul sends it and hands on the parsed body itself', () => {
    const body = [entry(), entry({ ID: 'redis-2', Tags: null, Address: '', Meta: null, Weights: null }, { Checks: null })];
    const result = healthServiceSchema.safeParse(body);
    expect(result.success).toBe(true);
    expect(result.success && result.data).toBe(body);
    // Optional fields may be absent as well as null.
    const { Tags: _t, Address: _a, Meta: _m, Weights: _w, ...bare } = entry().Service as Record<string, unknown>;
    expect(healthServiceSchema.safeParse([{ Node: { Node: 'n', Address: '10.0.0.1' }, Service: bare }]).success).toBe(true);
    expect(healthServiceSchema.safeParse([]).success).toBe(true);
  });

  it('rejects each field it reads when it has the wrong shape, naming where', () => {
    const cases: [unknown, string][] = [
      [{}, ': expected array, received object'],
      [[null], '0: expected object, received null'],
      [[entry({ Port: 70_000 })], '0.Service.Port: too big: expected number to be <=65535'],
      [[entry({ Port: 80.5 })], '0.Service.Port: expected int, received number'],
      [[entry({ Port: '80' })], '0.Service.Port: expected number, received string'],
      [[entry({ Tags: ['a', 7] })], '0.Service.Tags.1: expected string, received number'],
      [[entry({ Meta: { v: 1 } })], '0.Service.Meta.v: expected string, received number'],
      [[entry({ Weights: { Passing: -1, Warning: 1 } })], '0.Service.Weights.Passing: too small: expected number to be >=0'],
      [[entry({ ID: undefined })], '0.Service.ID: expected string, received undefined'],
      [[entry({}, { Node: { Node: 'n' } })], '0.Node.Address: expected string, received undefined'],
      [[entry({}, { Checks: [{ Node: 'n', CheckID: 'c', Status: 'unknown' }] })], '0.Checks.0.Status: invalid option: expected one of "passing"|"warning"|"critical"|"maintenance"'],
      [[entry(), entry({}, { Checks: {} })], '1.Checks: expected array, received object'],
    ];
    for (const [body, expected] of cases) expect(problem(healthServiceSchema.safeParse(body)), JSON.stringify(body).slice(0, 80)).toBe(expected);
    // A failure does not leave its path behind for the next answer.
    expect(healthServiceSchema.safeParse([entry()]).success).toBe(true);
  });

  it('checks the state and catalog answers', () => {
    expect(healthStateSchema.safeParse([{ Node: 'n', CheckID: 'serfHealth', Status: 'critical', ServiceID: '' }]).success).toBe(true);
    expect(problem(healthStateSchema.safeParse([{ Node: 'n', CheckID: 3, Status: 'passing' }]))).toBe('0.CheckID: expected string, received number');
    expect(catalogServicesSchema.safeParse({ consul: [], web: ['urlprefix-/'], bare: null }).success).toBe(true);
    expect(problem(catalogServicesSchema.safeParse({ web: 'urlprefix-/' }))).toBe('web: expected array, received string');
    expect(catalogServicesSchema.safeParse([]).success).toBe(false);
  });
});
