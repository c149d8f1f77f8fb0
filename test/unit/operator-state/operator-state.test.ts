import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { decodeOperatorState, encodeOperatorState, OperatorStateUnreadable, sameOperatorState, type OperatorState } from '../../../src/operator-state/operator-state.js';
import { stateFilePath } from '../../../src/operator-state/state-store-factory.js';
import { routeOverrideSchema } from '../../../src/routing/route-overrides.js';

const state: OperatorState = {
  drains: [{ service: 'web', endpoint: '10.0.0.1:80' }],
  overrides: [
    { id: 1, createdAt: '2026-01-01T00:00:00.000Z', override: routeOverrideSchema.parse({ op: 'add', route: { name: 'x', match: { path: '/x', methods: ['GET'] }, service: 'web', timeouts: { perTry: '2s' } } }) },
    { id: 3, createdAt: '2026-01-01T00:00:01.000Z', override: routeOverrideSchema.parse({ op: 'weight', service: 'web', tags: ['canary'], weight: 0.5 }) },
  ],
  nextOverrideId: 4,
  writer: 'router-1',
};

describe('operator state document', () => {
  it('round-trips drains, overrides with their ids, the next id and the writer', () => {
    const back = decodeOperatorState(encodeOperatorState(state), 'test');
    expect(back).toEqual(state);
    expect(sameOperatorState(back, state)).toBe(true);
  });

  it('compares content, not creation times or writers', () => {
    expect(sameOperatorState({ ...state, writer: 'other', overrides: state.overrides.map((o) => ({ ...o, createdAt: 'later' })) }, state)).toBe(true);
    expect(sameOperatorState({ ...state, drains: [] }, state)).toBe(false);
    expect(sameOperatorState({ ...state, overrides: state.overrides.slice(1) }, state)).toBe(false);
  });

  it('continues ids after the highest stored one even when nextOverrideId lags', () => {
    const text = encodeOperatorState({ ...state, nextOverrideId: 2 });
    expect(decodeOperatorState(text, 'test').nextOverrideId).toBe(4);
  });

  it('refuses bad documents, naming where and what', () => {
    const bad = (text: string) => () => decodeOperatorState(text, '/etc/s.json');
    expect(bad('{"version":1,')).toThrow(OperatorStateUnreadable);
    expect(bad('{"version":1,')).toThrow(/the operator state in \/etc\/s\.json is not JSON/);
    expect(bad('[]')).toThrow(/is not valid: \(document\)/);
    expect(bad(JSON.stringify({ version: 2, drains: [], overrides: [], nextOverrideId: 1 }))).toThrow(/version: must be 1/);
    expect(bad(JSON.stringify({ version: 1, drains: [{ service: 'web' }], overrides: [], nextOverrideId: 1 }))).toThrow(/drains\.0\.endpoint/);
    expect(bad(JSON.stringify({ version: 1, drains: [], overrides: [{ id: 1, createdAt: 'x', override: { op: 'weight', service: 'web', weight: -1 } }], nextOverrideId: 2 }))).toThrow(
      /overrides\.0\.override\.weight: must be a weight greater than 0/,
    );
    expect(bad(JSON.stringify({ version: 1, drains: [], overrides: [], nextOverrideId: 0 }))).toThrow(/nextOverrideId/);
    expect(bad(JSON.stringify({ version: 1, drains: [], overrides: [], nextOverrideId: 1, extra: true }))).toThrow(/extra|Unrecognized/);
  });
});

describe('state file location', () => {
  it('defaults to "<config name>.state.json" beside the config, else admin.stateFile relative to it', () => {
    expect(stateFilePath(parseConfigText('c.yaml', '{}'), '/etc/switchyard/edge.yaml', {})).toBe('/etc/switchyard/edge.state.json');
    expect(stateFilePath(parseConfigText('c.yaml', 'admin:\n  stateFile: state/ops.json\n'), '/etc/switchyard/edge.yaml', {})).toBe('/etc/switchyard/state/ops.json');
    expect(stateFilePath(parseConfigText('c.yaml', 'admin:\n  stateFile: /var/lib/switchyard/state.json\n'), '/etc/switchyard/edge.yaml', {})).toBe('/var/lib/switchyard/state.json');
  });

  it('under systemd ($STATE_DIRECTORY) defaults to "<config name>.state.json" in the first state folder; admin.stateFile still wins', () => {
    const env = { STATE_DIRECTORY: '/var/lib/switchyard:/var/lib/other' };
    expect(stateFilePath(parseConfigText('c.yaml', '{}'), '/etc/switchyard/edge.yaml', env)).toBe('/var/lib/switchyard/edge.state.json');
    expect(stateFilePath(parseConfigText('c.yaml', 'admin:\n  stateFile: state/ops.json\n'), '/etc/switchyard/edge.yaml', env)).toBe('/etc/switchyard/state/ops.json');
    expect(stateFilePath(parseConfigText('c.yaml', '{}'), '/etc/switchyard/edge.yaml', { STATE_DIRECTORY: '' })).toBe('/etc/switchyard/edge.state.json');
  });

  it('refuses an empty admin.stateFile', () => {
    expect(() => parseConfigText('c.yaml', 'admin:\n  stateFile: ""\n')).toThrow(/admin\.stateFile: must be a file path/);
  });
});
