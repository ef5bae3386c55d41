import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { Test } from 'tap';

/** The audience tokens get unless a test names another. */
export const TEST_AUDIENCE = 'state-ledger';

export interface SignOptions {
  /** Default TEST_AUDIENCE. */
  readonly audience?: string | string[];
  /** jose's setExpirationTime: '5m', '-2m' (already expired), a Date, or epoch seconds; null for no exp. Default '5m'. */
  readonly expiresIn?: string | number | Date | null;
  /** jose's setNotBefore: '10m' (in the future), a Date, or epoch seconds. Default none. */
  readonly notBefore?: string | number | Date;
  /** Default this issuer's URL. */
  readonly issuer?: string;
  /** Default the issuer's key id; null for a header without kid. */
  readonly kid?: string | null;
  /** A private key to sign with instead of the issuer's (with the issuer's alg). */
  readonly key?: CryptoKey;
}

export interface TestOidcIssuer {
  /** Its URL, also the `iss` of the tokens it signs. */
  readonly issuer: string;
  readonly alg: 'RS256' | 'ES256';
  readonly kid: string;
  /** The public JWKS it serves (write it to a file for the jwks_file mode). */
  readonly jwks: JSONWebKeySet;
  /** A private key that is not in the JWKS, for the wrong-signature case. */
  readonly foreignKey: CryptoKey;
  /** The public half of `foreignKey`, as a JWKS without kid. */
  readonly foreignJwks: JSONWebKeySet;
  sign(claims?: JWTPayload, options?: SignOptions): Promise<string>;
  /** Signed with `foreignKey` but the issuer's kid, as a forger would. */
  signWithForeignKey(claims?: JWTPayload, options?: SignOptions): Promise<string>;
  /** Requests served so far, by kind. */
  readonly hits: { readonly discovery: number; readonly jwks: number };
  /** While false, both endpoints answer 503. */
  setAvailable(available: boolean): void;
}

/**
 * A local OIDC issuer on 127.0.0.1 (a free port): `/.well-known/openid-configuration` and
 * `/jwks`, with a fresh key pair. Closed at the end of the test.
 */
export const startOidcIssuer = async (t: Test, options?: { readonly alg?: 'RS256' | 'ES256' }): Promise<TestOidcIssuer> => {
  const alg = options?.alg ?? 'RS256';
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const foreign = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid, alg, use: 'sig' }] };
  const hits = { discovery: 0, jwks: 0 };
  let available = true;
  let issuer = '';

  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      hits.discovery += 1;
      if (!available) return send(503, { error: 'down' });
      return send(200, { issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: [alg] });
    }
    if (req.url === '/jwks') {
      hits.jwks += 1;
      if (!available) return send(503, { error: 'down' });
      return send(200, jwks);
    }
    return send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );

  const sign = async (claims: JWTPayload = {}, signOptions: SignOptions = {}): Promise<string> => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg, typ: 'JWT', ...(signOptions.kid === null ? {} : { kid: signOptions.kid ?? kid }) })
      .setIssuedAt()
      .setIssuer(signOptions.issuer ?? issuer)
      .setAudience(signOptions.audience ?? TEST_AUDIENCE);
    const expiresIn = signOptions.expiresIn === undefined ? '5m' : signOptions.expiresIn;
    if (expiresIn !== null) jwt.setExpirationTime(expiresIn);
    if (signOptions.notBefore !== undefined) jwt.setNotBefore(signOptions.notBefore);
    return jwt.sign(signOptions.key ?? privateKey);
  };

  return {
    issuer,
    alg,
    kid,
    jwks,
    foreignKey: foreign.privateKey,
    foreignJwks: { keys: [{ ...(await exportJWK(foreign.publicKey)), alg, use: 'sig' }] },
    sign,
    signWithForeignKey: (claims, signOptions) => sign(claims, { ...signOptions, key: foreign.privateKey }),
    get hits() {
      return { ...hits };
    },
    setAvailable: (value) => {
      available = value;
    },
  };
};

/** A URL on 127.0.0.1 where nothing listens (a port just freed). */
export const closedPortUrl = async (): Promise<string> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
};
