import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarStatus } from '../../../src/sidecar/sidecar.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { eventually } from '../../support/proxy-harness.js';
import { startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';

describe('sidecar admin listener (no limits set)', () => {
  let sc: InProcessSidecar | null = null;
  afterEach(async () => {
    await sc?.close();
    sc = null;
  });

  it('serves /status and /metrics; restarts are counted; other paths and methods are refused', async () => {
    sc = await startSidecar(null, { app: { instances: 2 }, admin: { enabled: true, port: 0 } });
    const admin = `http://127.0.0.1:${sc.sidecar.adminAddress!.port}`;
    await eventually(async () => (await fetchJson<SidecarStatus>(`${admin}/status`)).json.instances.every((i) => i.healthy), 10_000, 'both instances healthy');

    const st = (await fetchJson<SidecarStatus>(`${admin}/status`)).json;
    expect(st.service).toBe('orders');
    // No limit set: no cgroups are used and none is reported.
    expect(st.cgroups).toBeNull();
    expect(st.instances.map((i) => ({ instance: i.instance, port: i.port, running: i.running, restarts: i.restarts, cgroup: i.cgroup }))).toEqual([
      { instance: 0, port: sc.appPorts[0], running: true, restarts: 0, cgroup: null },
      { instance: 1, port: sc.appPorts[1], running: true, restarts: 0, cgroup: null },
    ]);
    expect(sc.log.find('cgroups: using')).toHaveLength(0);

    await fetchText(`http://127.0.0.1:${sc.appPorts[1]}/crash`).catch(() => undefined);
    await eventually(async () => (await fetchJson<SidecarStatus>(`${admin}/status`)).json.instances[1]!.restarts === 1, 10_000, 'restart of instance 1');
    const restarted = (await fetchJson<SidecarStatus>(`${admin}/status`)).json.instances[1]!;
    expect(restarted.lastExit).toMatchObject({ code: 3, signal: null, oom: false });

    const metrics = await fetchText(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    const all = parsePrometheusText(metrics.body);
    expect(samples(all, 'switchyard_sidecar_instance_restarts_total', { instance: '0' })[0]?.value).toBe(0);
    expect(samples(all, 'switchyard_sidecar_instance_restarts_total', { instance: '1' })[0]?.value).toBe(1);
    expect(samples(all, 'switchyard_sidecar_instance_oom_kills_total', { instance: '1' })[0]?.value).toBe(0);
    // Usage figures come from cgroups only.
    expect(samples(all, 'switchyard_sidecar_instance_memory_bytes')).toHaveLength(0);

    const notFound = await fetchText(`${admin}/nope`);
    expect(notFound.status).toBe(404);
    expect(notFound.body).toContain('GET /metrics and GET /status');
    const post = await fetchText(`${admin}/status`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await fetchText(`${admin}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('fails to start with the bind error when the admin port is taken', async () => {
    sc = await startSidecar(null, { admin: { enabled: true, port: 0 } });
    const taken = sc.sidecar.adminAddress!.port;
    await expect(startSidecar(null, { admin: { enabled: true, port: taken } })).rejects.toThrow(/EADDRINUSE/);
  });
});
