import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SwitchyardMetrics } from '../../../src/observability/metrics.js';

const RULES = 'deploy/prometheus/switchyard-alerts.yaml';
const RULE_TESTS = 'deploy/prometheus/switchyard-alerts.test.yaml';
const DASHBOARD = 'deploy/grafana/switchyard-dashboard.json';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const hasPromtool = promtool.status === 0;
if (!hasPromtool) console.warn("Prometheus rule checks skipped: promtool not found (install Debian's prometheus package; .ci/setup-extras does)");

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string }>;
}

async function rules(): Promise<Rule[]> {
  const doc = parseYaml(await readFile(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

async function dashboard(): Promise<{ uid: string; panels: Panel[]; templating: { list: Array<{ name: string }> } }> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ name: string }> } };
}

/** The metric names Switchyard really exports, with the series names of its histograms. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new SwitchyardMetrics({ processMetrics: true });
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${m.name}${suffix}`);
  }
  return names;
}

const METRIC_NAME = /\b(?:switchyard|process|nodejs)_[a-z0-9_]+\b/g;

/** Grafana's variables replaced by values Prometheus accepts, so an expression can be parsed as PromQL. */
function asPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replace(/\$(job|instance|route|service)\b/g, '.*');
}

describe('Prometheus alerting rules', () => {
  it('alert on the conditions operators asked for, with severity and summary', async () => {
    const all = await rules();
    expect(all.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['SwitchyardNoHealthyEndpoints', 'SwitchyardHigh5xxRatio', 'SwitchyardRegistryStale', 'SwitchyardCircuitBreakerOpen', 'SwitchyardRetryBudgetExhausted']),
    );
    for (const r of all) {
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
    }
  });

  it('use only metrics Switchyard exports', async () => {
    const exported = await exportedNames();
    const used = (await rules()).flatMap((r) => r.expr.match(METRIC_NAME) ?? []);
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((n) => !exported.has(n))).toEqual([]);
  });

  it.skipIf(!hasPromtool)('pass `promtool check rules`', () => {
    const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it.skipIf(!hasPromtool)('fire as their unit tests expect (`promtool test rules`)', () => {
    const r = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});

describe('Grafana dashboard', () => {
  it('has panels with unique ids, on a 24-column grid, each graph with a query', async () => {
    const d = await dashboard();
    expect(d.uid).toBe('switchyard-overview');
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type !== 'row') expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
    expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'job', 'instance', 'route', 'service']);
  });

  it('queries only metrics Switchyard exports, including every switchyard_ metric', async () => {
    const exported = await exportedNames();
    const used = new Set((await dashboard()).panels.flatMap((p) => (p.targets ?? []).flatMap((t) => t.expr.match(METRIC_NAME) ?? [])));
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    const base = (n: string) => n.replace(/_(bucket|count|sum)$/, '');
    const shown = new Set([...used].map(base));
    const missing = [...exported].filter((n) => n.startsWith('switchyard_') && !/_(bucket|count|sum)$/.test(n) && !shown.has(n));
    // build_info is used by the variables and the overview, not as a graph of its own.
    expect(missing.filter((n) => n !== 'switchyard_build_info')).toEqual([]);
  });

  it.skipIf(!hasPromtool)('queries are valid PromQL (parsed by promtool)', async () => {
    const exprs = (await dashboard()).panels.flatMap((p) => (p.targets ?? []).map((t) => asPromql(t.expr)));
    const r = await checkQueries(exprs);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
  });

  it.skipIf(!hasPromtool)('the PromQL check rejects a broken query', async () => {
    expect(asPromql('rate(x{instance=~"$instance"}[$__rate_interval])')).toBe('rate(x{instance=~".*"}[5m])');
    const r = await checkQueries(['sum by (route) (rate(switchyard_requests_total[5m])']);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('parse error');
  });
});

/** Runs `promtool check rules` on the expressions as recording rules (promtool parses each as PromQL). */
async function checkQueries(exprs: string[]): Promise<{ status: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-dashboard-'));
  const file = join(dir, 'dashboard-queries.yaml');
  const recording = exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr }));
  await writeFile(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: recording }] }));
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}
