import { describe, expect, it } from 'vitest';
import { buildIdentity } from '../../../src/sidecar/connect-certificates.js';
import { parseSpiffeServiceId, serviceIdOfCertificate } from '../../../src/sidecar/spiffe-id.js';
import { ConnectCA } from '../../support/connect-ca.js';

describe('SPIFFE service identities', () => {
  it('parses service URIs, with and without an admin partition, and nothing else', () => {
    expect(parseSpiffeServiceId('spiffe://11111111-2222.consul/ns/default/dc/dc1/svc/web')).toMatchObject({ trustDomain: '11111111-2222.consul', namespace: 'default', datacenter: 'dc1', service: 'web', partition: 'default' });
    expect(parseSpiffeServiceId('spiffe://td.consul/ap/finance/ns/ops/dc/dc2/svc/ledger')).toMatchObject({ partition: 'finance', namespace: 'ops', service: 'ledger' });
    expect(parseSpiffeServiceId('spiffe://td.consul/agent/client/dc/dc1/id/abc')).toBeNull();
    expect(parseSpiffeServiceId('spiffe://td.consul')).toBeNull();
    expect(parseSpiffeServiceId('https://td.consul/ns/default/dc/dc1/svc/web')).toBeNull();
    expect(parseSpiffeServiceId('spiffe://td.consul/ns/default/dc/dc1/svc/web/extra')).toBeNull();
  });

  it('takes the one service URI of a certificate, and refuses a certificate with none or two', () => {
    expect(serviceIdOfCertificate('DNS:web.local, URI:spiffe://td.consul/ns/default/dc/dc1/svc/web')?.service).toBe('web');
    expect(serviceIdOfCertificate('DNS:web.local')).toBeNull();
    expect(serviceIdOfCertificate(undefined)).toBeNull();
    expect(serviceIdOfCertificate('URI:spiffe://td.consul/ns/default/dc/dc1/svc/web, URI:spiffe://td.consul/ns/default/dc/dc1/svc/api')).toBeNull();
  });
});

describe('Connect identity from the agent\'s leaf and roots', () => {
  it('accepts a leaf of this service chaining to the roots, also through the cross-signed root after a rotation', async () => {
    const ca = new ConnectCA('dc1');
    await ca.init();
    const leaf = await ca.issueLeaf('web', 1);
    const identity = buildIdentity('web', leaf, ca.rootsResponse(1));
    expect(identity.uri).toBe(ca.spiffeUri('web'));
    expect(identity.trustDomain).toBe(ca.trustDomain);
    await ca.rotateRoot(2);
    const next = await ca.issueLeaf('web', 2);
    expect(buildIdentity('web', next, ca.rootsResponse(2)).rootIds).toHaveLength(2);
    ca.pruneRoots();
    expect(buildIdentity('web', next, ca.rootsResponse(3)).rootIds).toHaveLength(1);
  });

  it('refuses a leaf of another service, of another CA, with the wrong key, or without a service URI', async () => {
    const ca = new ConnectCA('dc1');
    await ca.init();
    const roots = ca.rootsResponse(1);
    const api = await ca.issueLeaf('api', 1);
    expect(() => buildIdentity('web', api, roots)).toThrow('the leaf carries the identity of "api", not "web"');
    const other = new ConnectCA('dc1');
    await other.init();
    const foreign = await other.issueLeaf('web', 1, { uri: ca.spiffeUri('web') });
    expect(() => buildIdentity('web', foreign, roots)).toThrow(/is not signed by any of the 1 CA root/);
    const web = await ca.issueLeaf('web', 1);
    expect(() => buildIdentity('web', { ...web, PrivateKeyPEM: api.PrivateKeyPEM }, roots)).toThrow();
    const agentLike = await ca.issueLeaf('web', 1, { uri: `spiffe://${ca.trustDomain}/agent/client/dc/dc1/id/x` });
    expect(() => buildIdentity('web', agentLike, roots)).toThrow('carries no SPIFFE service URI');
    const otherDomain = await ca.issueLeaf('web', 1, { uri: 'spiffe://elsewhere.consul/ns/default/dc/dc1/svc/web' });
    expect(() => buildIdentity('web', otherDomain, roots)).toThrow("the leaf's trust domain elsewhere.consul is not the CA's");
    expect(() => buildIdentity('web', { ...web, CertPEM: 'garbage' }, roots)).toThrow('holds no PEM certificate');
  });
});
