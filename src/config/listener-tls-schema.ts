import { z } from 'zod';

/**
 * The `tls` section of a client-facing listener (the router's listeners, the sidecar's inbound
 * listener): certificates chosen by SNI, the lowest version, client certificates. In a file of
 * its own so that sidecar-schema.ts can use it without importing schema.ts (which imports it).
 */

/** A PEM file path, with the message naming what the file must hold. */
export const pemFileSchema = (what: string) => z.string().min(1, { message: `must be the path of a PEM ${what} file` });

const certificateFilesSchema = z.strictObject({
  cert: z
    .string()
    .min(1, { message: 'must be the path of a PEM certificate (chain) file' })
    .describe('PEM certificate (chain) file, relative to the config file. Required.'),
  key: z.string().min(1, { message: 'must be the path of a PEM private key file' }).describe('PEM private key file, relative to the config file. Required.'),
});

/** A subjectAltName entry as openssl prints it: DNS:, IP:, URI: or email: and the value. */
const SUBJECT_ALT_NAME = /^(DNS|IP|URI|email):\S.*$/;

const clientCertificateSchema = z.strictObject({
  ca: pemFileSchema('CA').describe('PEM file of the CA(s) that sign the client certificates, relative to the config file. Required.'),
  subjectAltNames: z
    .array(z.string().regex(SUBJECT_ALT_NAME, { message: 'must be a subjectAltName entry such as "DNS:client.internal", "URI:spiffe://example.org/web", "IP:10.0.0.5" or "email:ops@example.com"' }))
    .default([])
    .describe('The client certificate must carry one of these subjectAltName entries (or one of commonNames): "DNS:client.internal", "URI:spiffe://example.org/web", "IP:10.0.0.5", "email:ops@example.com". A certificate that matches none is closed right after the handshake, before any request is read. Default: [] (with commonNames also empty, any certificate ca signs).'),
  commonNames: z
    .array(z.string().min(1, { message: 'must be a non-empty subject common name' }))
    .default([])
    .describe('The client certificate\'s subject CN must be one of these (or carry one of subjectAltNames). Default: [].'),
});

export const listenerTlsSchema = z.strictObject({
  cert: certificateFilesSchema.shape.cert.describe(
    'PEM file of the default certificate (chain), served when the client sends no SNI name or one no certificate covers; relative to the config file. Required.',
  ),
  key: certificateFilesSchema.shape.key.describe('PEM private key file of the default certificate, relative to the config file. Required.'),
  certificates: z
    .array(certificateFilesSchema)
    .default([])
    .describe('More {cert, key} pairs, each chosen by SNI from its DNS names (subjectAltName, else CN; exact names before wildcards, first listed wins).'),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Lowest TLS version accepted.'),
  clientCertificate: clientCertificateSchema
    .optional()
    .describe('Require and verify a client certificate (mutual TLS): a client without one, or with one that clientCertificate.ca does not sign, fails the handshake. Default: no client certificate asked for.'),
  watch: z.boolean().default(true).describe('Reload the certificate files (and clientCertificate.ca) when they change (a bad new set is logged and the running certificates stay).'),
});

