// @peculiar/x509 resolves its providers with tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { randomUUID, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * The Consul Connect CA of the emulator: a real X.509 CA in process, EC P-256 keys, as Consul's
 * built-in CA makes them (roots named "Consul CA <n>", leaves whose only identity is the SPIFFE
 * URI SAN `spiffe://<trust-domain>/ns/default/dc/<dc>/svc/<service>`).
 *
 * Library: @peculiar/x509 on Node's WebCrypto. It builds certificates with any extension
 * (URI SANs, cross-signed roots) in process and asynchronously, with no child process per
 * certificate (Debian's openssl would need a config file and a spawn per leaf) and no
 * hand-written ASN.1 (node-forge has no EC keys). It is a test dependency only: the product
 * verifies certificates with node:tls and reads them with node:crypto's X509Certificate.
 *
 * Root rotation follows Consul: the new root is cross-signed by the old one; the roots list
 * keeps the old root (inactive) beside the new active one, whose IntermediateCerts carry the
 * cross-signed certificate, and every leaf is issued again by the new root with that
 * cross-signed certificate after it in CertPEM, so a peer that still trusts only the old root
 * verifies it too.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 24 * 3600_000;

export interface RootState {
  id: string;
  name: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
  /** Cross-signed by the previous root (empty for the first root). */
  intermediates: string[];
  createIndex: number;
}

/** GET /v1/agent/connect/ca/leaf/<service>, as Consul answers it. */
export interface LeafCertificate {
  SerialNumber: string;
  CertPEM: string;
  PrivateKeyPEM: string;
  Service: string;
  ServiceURI: string;
  ValidAfter: string;
  ValidBefore: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** GET /v1/agent/connect/ca/roots, as Consul answers it. */
export interface CaRoots {
  ActiveRootID: string;
  TrustDomain: string;
  Roots: {
    ID: string;
    Name: string;
    SerialNumber: number;
    SigningKeyID: string;
    NotBefore: string;
    NotAfter: string;
    RootCert: string;
    IntermediateCerts: string[] | null;
    Active: boolean;
    PrivateKeyType: 'ec';
    PrivateKeyBits: 256;
    CreateIndex: number;
    ModifyIndex: number;
  }[];
}

export class ConnectCA {
  readonly trustDomain: string;
  private roots: RootState[] = [];
  private rootSerial = 0;

  constructor(
    readonly datacenter: string,
    /** How long a leaf is valid (Consul's default: 72 h). */
    public leafTtlMs = 3 * DAY_MS,
  ) {
    this.trustDomain = `${randomUUID()}.consul`;
  }

  /** Creates the first root. */
  async init(): Promise<void> {
    if (this.roots.length === 0) this.roots.push(await this.newRoot(null, 1));
  }

  get activeRoot(): RootState {
    const root = this.roots[this.roots.length - 1];
    if (root === undefined) throw new Error('the Connect CA has no root yet: call init() first');
    return root;
  }

  spiffeUri(service: string): string {
    return `spiffe://${this.trustDomain}/ns/default/dc/${this.datacenter}/svc/${service}`;
  }

  /** A new root cross-signed by the current one; the old root stays in the bundle (inactive). */
  async rotateRoot(index: number): Promise<void> {
    this.roots.push(await this.newRoot(this.activeRoot, index));
  }

  /** Drops every root but the active one (the old root's expiry, or an operator pruning it). */
  pruneRoots(): void {
    this.roots = [this.activeRoot];
  }

  rootsResponse(index: number): CaRoots {
    const active = this.activeRoot;
    return {
      ActiveRootID: active.id,
      TrustDomain: this.trustDomain,
      Roots: this.roots.map((r) => ({
        ID: r.id,
        Name: r.name,
        SerialNumber: Number.parseInt(r.cert.serialNumber, 16),
        SigningKeyID: r.id,
        NotBefore: r.cert.notBefore.toISOString(),
        NotAfter: r.cert.notAfter.toISOString(),
        RootCert: r.cert.toString('pem'),
        IntermediateCerts: r.intermediates.length > 0 ? r.intermediates : null,
        Active: r === active,
        PrivateKeyType: 'ec',
        PrivateKeyBits: 256,
        CreateIndex: r.createIndex,
        ModifyIndex: index,
      })),
    };
  }

  /** A new leaf for `service` (or any SPIFFE URI, for tests that forge identities), signed by the active root. */
  async issueLeaf(service: string, index: number, options: { uri?: string; validForMs?: number } = {}): Promise<LeafCertificate> {
    const signer = this.activeRoot;
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const uri = options.uri ?? this.spiffeUri(service);
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(Date.now() + (options.validForMs ?? this.leafTtlMs));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${service}`,
      issuer: signer.cert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: EC,
      publicKey: keys.publicKey,
      signingKey: signer.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(signer.keys.publicKey),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      SerialNumber: colonHex(cert.serialNumber),
      CertPEM: [cert.toString('pem'), ...signer.intermediates].join('\n') + '\n',
      PrivateKeyPEM: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
      Service: service,
      ServiceURI: uri,
      ValidAfter: notBefore.toISOString(),
      ValidBefore: notAfter.toISOString(),
      CreateIndex: index,
      ModifyIndex: index,
    };
  }

  private async newRoot(previous: RootState | null, index: number): Promise<RootState> {
    this.rootSerial += 1;
    const name = `Consul CA ${this.rootSerial}`;
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const subject = `CN=pri-${randomUUID().slice(0, 8)}.consul.ca.${this.trustDomain.slice(0, 8)}.consul`;
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(Date.now() + 3650 * DAY_MS);
    const extensions = async () => [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${this.trustDomain}` }], false),
    ];
    const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: randomSerial(), name: subject, notBefore, notAfter, signingAlgorithm: EC, keys, extensions: await extensions() });
    const intermediates: string[] = [];
    if (previous !== null) {
      // The new root's name and key, issued by the old root: the bridge for peers that trust only the old one.
      const cross = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject,
        issuer: previous.cert.subject,
        notBefore,
        notAfter: previous.cert.notAfter,
        signingAlgorithm: EC,
        publicKey: keys.publicKey,
        signingKey: previous.keys.privateKey,
        extensions: [...(await extensions()), await x509.AuthorityKeyIdentifierExtension.create(previous.keys.publicKey)],
      });
      intermediates.push(cross.toString('pem'));
    }
    const id = colonHex(cert.serialNumber).slice(0, 59);
    return { id, name, keys, cert, intermediates, createIndex: index };
  }
}

function randomSerial(): string {
  // Positive, 16 bytes (the top bit clear so that DER needs no sign byte).
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f | 0x10;
  return Buffer.from(bytes).toString('hex');
}

function colonHex(hex: string): string {
  return hex.toLowerCase().match(/.{1,2}/g)!.join(':');
}
