import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files of a generated certificate. */
export interface CertificateFiles {
  cert: string;
  key: string;
}

/** A test certificate authority made at run time with openssl. */
export interface TestCa extends CertificateFiles {
  dir: string;
  /**
   * Issues a certificate for `names` ("DNS:a.test", "IP:127.0.0.1", ...) signed by this CA,
   * for a server (default) or a client (extendedKeyUsage clientAuth, for mutual TLS).
   */
  issue(fileStem: string, commonName: string, names: string[], usage?: 'server' | 'client'): Promise<CertificateFiles>;
}

/** Creates a CA in `dir` (openssl must be on PATH). */
export async function createTestCa(dir: string, name = 'Switchyard Test CA'): Promise<TestCa> {
  const cert = join(dir, `${slug(name)}.pem`);
  const key = join(dir, `${slug(name)}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return {
    dir,
    cert,
    key,
    issue: async (fileStem, commonName, names, usage = 'server') => {
      const leafKey = join(dir, `${fileStem}.key`);
      const csr = join(dir, `${fileStem}.csr`);
      const leaf = join(dir, `${fileStem}.pem`);
      const ext = join(dir, `${fileStem}.ext`);
      await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', leafKey, '-out', csr, '-subj', `/CN=${commonName}`]);
      await writeFile(ext, `subjectAltName=${names.join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=${usage === 'client' ? 'clientAuth' : 'serverAuth'}\n`);
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-CAcreateserial', '-out', leaf, '-days', '2', '-extfile', ext]);
      return { cert: leaf, key: leafKey };
    },
  };
}

/** A self-signed certificate (trusted by nobody). */
export async function createSelfSigned(dir: string, fileStem: string, commonName: string, names: string[]): Promise<CertificateFiles> {
  const cert = join(dir, `${fileStem}.pem`);
  const key = join(dir, `${fileStem}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${names.join(',')}`]);
  return { cert, key };
}

export async function readPair(files: CertificateFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
  return { cert, key };
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}
