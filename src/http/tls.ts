import type { TlsSettings } from '../config.js';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import type https from 'node:https';
import tls from 'node:tls';


/** PEM files are small; anything bigger (or endless, /dev/zero) is a wrong path. */
const MAX_PEM_BYTES = 1024 * 1024;

/** One line naming the variable and the path, for a configuration mistake found at startup. */
const failure = (variable: string, file: string, problem: string): Error => new Error(`${variable}: ${file} ${problem}`);

const reasons: Record<string, string> = {
  ENOENT: 'does not exist',
  EACCES: 'is not readable (permission denied)',
  EPERM: 'is not readable (permission denied)',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'is not a valid path (a part of it is not a directory)',
  ELOOP: 'is not a valid path (too many symbolic links)',
};

const readPem = async (variable: string, file: string): Promise<string> => {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const buffer = Buffer.alloc(MAX_PEM_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_PEM_BYTES) throw failure(variable, file, `is larger than ${MAX_PEM_BYTES} bytes: not a PEM file`);
    }
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(`${variable}: `)) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw failure(variable, file, reasons[code] ?? `cannot be read (${code || String(error)})`);
  } finally {
    await handle?.close().catch(() => undefined);
  }
};

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/;

/** Every certificate of a PEM file (a chain or a bundle), parsed: none, or one that does not parse, is an error. */
const certificates = (variable: string, file: string, pem: string): X509Certificate[] => {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) throw failure(variable, file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw failure(variable, file, `holds a PEM certificate that does not parse (certificate ${index + 1})`);
    }
  });
};

const privateKey = (variable: string, file: string, pem: string): KeyObject => {
  const kind = KEY_BLOCK.exec(pem)?.[1];
  if (kind === undefined) throw failure(variable, file, 'holds no PEM private key (-----BEGIN PRIVATE KEY-----)');
  if (kind === 'ENCRYPTED PRIVATE KEY') throw failure(variable, file, 'holds an encrypted private key: give it unencrypted');
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw failure(variable, file, 'holds a PEM private key that does not parse (or is encrypted)');
  }
};

/**
 * Reads and checks the PEM files, so that a wrong path or a mismatched key stops the server at
 * startup rather than failing each handshake. With a client CA, every client must present a
 * certificate issued by it: the TLS layer refuses the others before any HTTP is read.
 */
export const loadTls = async (settings: TlsSettings): Promise<https.ServerOptions> => {
  const [cert, key, ca] = await Promise.all([
    readPem('TLS_CERT', settings.certFile),
    readPem('TLS_KEY', settings.keyFile),
    settings.clientCaFile === undefined ? undefined : readPem('TLS_CLIENT_CA', settings.clientCaFile),
  ]);
  const [leaf] = certificates('TLS_CERT', settings.certFile, cert);
  const keyObject = privateKey('TLS_KEY', settings.keyFile, key);
  if (leaf === undefined || !leaf.checkPrivateKey(keyObject)) {
    throw failure('TLS_KEY', settings.keyFile, `is not the private key of the certificate in TLS_CERT (${settings.certFile})`);
  }
  if (ca !== undefined && settings.clientCaFile !== undefined) {
    const authorities = certificates('TLS_CLIENT_CA', settings.clientCaFile, ca);
    if (!authorities.some((authority) => authority.ca)) {
      throw failure('TLS_CLIENT_CA', settings.clientCaFile, 'holds no CA certificate (basicConstraints CA:TRUE)');
    }
  }
  const options: https.ServerOptions = {
    cert,
    key,
    minVersion: 'TLSv1.2',
    ...(ca === undefined ? {} : { ca, requestCert: true, rejectUnauthorized: true }),
  };
  try {
    tls.createSecureContext(options);
  } catch (error) {
    throw failure('TLS_CERT', settings.certFile, `cannot be used with TLS_KEY ${settings.keyFile}: ${(error as Error).message}`);
  }
  return options;
};

const MAX_NAME_LENGTH = 128;
/** Letters, marks, digits, punctuation, symbols and inner spaces: no controls, no format or unassigned characters. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}](?:[\p{L}\p{M}\p{N}\p{P}\p{S} ]*[\p{L}\p{M}\p{N}\p{P}\p{S}])?$/u;

/**
 * The common name (CN) of the client certificate the TLS layer verified against TLS_CLIENT_CA,
 * for use as the user name. Undefined on plain HTTP, without a verified certificate, and for a
 * subject with no CN, several CNs, or one too long or not printable.
 */
export const clientCertificateName = (req: { socket: unknown }): string | undefined => {
  const socket = req.socket;
  if (!(socket instanceof tls.TLSSocket) || socket.authorized !== true) return undefined;
  const subject = socket.getPeerCertificate(false)?.subject as Record<string, string | string[] | undefined> | undefined;
  const name = subject?.CN;
  if (typeof name !== 'string') return undefined;
  if ([...name].length > MAX_NAME_LENGTH || !PRINTABLE.test(name)) return undefined;
  return name;
};
