import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { ClientCertificateNames, splitSubjectAltName } from '../../../src/proxy/client-certificate-names.js';

/** A socket whose peer certificate has these fields (what TLSSocket.getPeerCertificate() gives). */
const peer = (subjectaltname: string | undefined, cn?: string) => ({ getPeerCertificate: () => ({ subjectaltname, subject: cn === undefined ? {} : { CN: cn } }) }) as unknown as TLSSocket;

describe('client certificate names', () => {
  it('splits Node\'s subjectAltName text, decoding quoted values', () => {
    expect(splitSubjectAltName('DNS:a.test, IP Address:127.0.0.1, URI:spiffe://example.org/web')).toEqual(['DNS:a.test', 'IP Address:127.0.0.1', 'URI:spiffe://example.org/web']);
    expect(splitSubjectAltName('URI:"http://x/a,b", DNS:b.test')).toEqual(['URI:http://x/a,b', 'DNS:b.test']);
    expect(splitSubjectAltName('')).toEqual([]);
  });

  it('is absent when no names are configured (any certificate the CA signs is accepted)', () => {
    expect(ClientCertificateNames.from(undefined)).toBeNull();
    expect(ClientCertificateNames.from({ subjectAltNames: [], commonNames: [] })).toBeNull();
  });

  it('matches subjectAltName entries by type and value, IP addresses in any spelling, DNS names in any case', () => {
    const names = ClientCertificateNames.from({ subjectAltNames: ['DNS:Web.Internal', 'IP:::1', 'URI:spiffe://example.org/web'], commonNames: [] })!;
    expect(names.check(peer('DNS:web.internal')).accepted).toBe(true);
    expect(names.check(peer('IP Address:0:0:0:0:0:0:0:1')).accepted).toBe(true);
    expect(names.check(peer('URI:spiffe://example.org/web')).accepted).toBe(true);
    // The same value under another type is not a match.
    expect(names.check(peer('URI:web.internal')).accepted).toBe(false);
    expect(names.check(peer('DNS:batch.internal', 'web.internal'))).toEqual({ accepted: false, names: ['DNS:batch.internal', 'CN:web.internal'] });
    expect(names.check(peer(undefined)).accepted).toBe(false);
  });

  it('matches the subject common name', () => {
    const names = ClientCertificateNames.from({ subjectAltNames: [], commonNames: ['ops'] })!;
    expect(names.check(peer('DNS:ops.internal', 'ops')).accepted).toBe(true);
    expect(names.check(peer('DNS:ops', 'other')).accepted).toBe(false);
  });
});
