import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';

const run = promisify(execFile);
const OPENSSL = '/usr/bin/openssl';

/** A certificate and its private key, as files and as PEM text. */
export interface CertificatePair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface Certificates {
  /** The temporary folder holding every file (removed at teardown). */
  readonly dir: string;
  /** The CA that issues the server's and the trusted clients' certificates: its certFile is TLS_CLIENT_CA. */
  readonly ca: CertificatePair;
  /** For 127.0.0.1 and localhost, issued by `ca`. */
  readonly server: CertificatePair;
  /** CN=alice, issued by `ca`. */
  readonly client: CertificatePair;
  /** CN=alice too, but issued by another CA, which the server does not trust. */
  readonly untrustedClient: CertificatePair;
  /** A client certificate issued by `ca` with this subject, in openssl's `-subj` form (`/CN=bob`, `/O=x/CN=a/CN=b`; UTF-8 allowed). */
  issueClient(subject: string): Promise<CertificatePair>;
}

const CONFIG = `
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/**
 * A throwaway PKI made with the openssl CLI (EC P-256 keys, valid for a day): a CA, a server
 * certificate, trusted client certificates and one from an untrusted CA.
 */
export const makeCertificates = async (t: Test): Promise<Certificates> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'state-ledger-tls-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'openssl.cnf');
  await fs.writeFile(config, CONFIG);
  let count = 0;
  const file = (name: string) => path.join(dir, `${name}-${++count}`);

  const read = async (certFile: string, keyFile: string): Promise<CertificatePair> => ({
    certFile,
    keyFile,
    cert: await fs.readFile(certFile, 'utf8'),
    key: await fs.readFile(keyFile, 'utf8'),
  });

  const selfSigned = async (name: string, subject: string): Promise<CertificatePair> => {
    const base = file(name);
    const [certFile, keyFile] = [`${base}.crt`, `${base}.key`];
    await run(OPENSSL, ['req', '-x509', '-config', config, '-extensions', 'ca', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', subject]);
    return read(certFile, keyFile);
  };

  const issued = async (issuer: CertificatePair, name: string, extensions: 'server' | 'client', subject: string): Promise<CertificatePair> => {
    const base = file(name);
    const [certFile, keyFile, request] = [`${base}.crt`, `${base}.key`, `${base}.csr`];
    await run(OPENSSL, ['req', '-new', '-config', config, '-utf8', ...EC_KEY, '-keyout', keyFile, '-out', request, '-subj', subject]);
    await run(OPENSSL, [
      'x509', '-req', '-in', request, '-CA', issuer.certFile, '-CAkey', issuer.keyFile,
      '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '1', '-sha256',
      '-extfile', config, '-extensions', extensions, '-out', certFile,
    ]);
    return read(certFile, keyFile);
  };

  const [ca, otherCa] = await Promise.all([selfSigned('ca', '/CN=state-ledger test CA'), selfSigned('other-ca', '/CN=untrusted test CA')]);
  const [server, client, untrustedClient] = await Promise.all([
    issued(ca, 'server', 'server', '/CN=localhost'),
    issued(ca, 'alice', 'client', '/CN=alice'),
    issued(otherCa, 'mallory', 'client', '/CN=alice'),
  ]);
  return { dir, ca, server, client, untrustedClient, issueClient: (subject) => issued(ca, 'client', 'client', subject) };
};
