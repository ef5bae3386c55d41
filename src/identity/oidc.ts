import * as E from 'fp-ts/lib/Either.js';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import fs from 'node:fs/promises';
import { isIssuerUrl, type OidcIssuer } from './oidc-issuers.js';

/** A verified token: who issued it, and every claim it carries (grants match on these). */
export interface OidcIdentity {
  readonly issuer: string;
  /** The issuer's configured short name. */
  readonly name: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Why a token was refused; `reason` is a sentence for the CI user. Every kind but `unavailable`
 * is the token's fault (401); `unavailable` means the issuer's keys could not be had (503), and
 * its `detail` is for the server log only.
 */
export type OidcRefusal =
  | { readonly kind: 'not-jwt'; readonly reason: string }
  | { readonly kind: 'unknown-issuer'; readonly reason: string; readonly issuer: string }
  | { readonly kind: 'expired'; readonly reason: string }
  | { readonly kind: 'not-yet-valid'; readonly reason: string }
  | { readonly kind: 'wrong-audience'; readonly reason: string }
  | { readonly kind: 'bad-signature'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string; readonly detail: string }
  | { readonly kind: 'invalid'; readonly reason: string };

export interface OidcVerifierOptions {
  /** Per request to the issuer (discovery document, JWKS). Default 5 s. */
  readonly timeoutMs?: number;
  /** How long fetched keys are used before they are fetched again. Default 10 min. */
  readonly cacheMaxAgeMs?: number;
  /** After a failed or keyless fetch, how long before the issuer is asked again. Default 30 s. */
  readonly cooldownMs?: number;
}

export interface OidcVerifier {
  /** The issuers it trusts: grants may name one by its URL or its name. */
  readonly issuers: readonly OidcIssuer[];
  /** Never rejects: every bad token, and every unreachable issuer, is a Left. */
  verify(token: string): Promise<E.Either<OidcRefusal, OidcIdentity>>;
}

/** Longer tokens are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Only asymmetric signatures: a shared secret (HS*) or no signature (`none`) is never accepted. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

const CLOCK_TOLERANCE_SECONDS = 30;
const MAX_DOCUMENT_BYTES = 1024 * 1024;

/**
 * Three base64url segments separated by dots (the signature may be empty, so an unsigned token is
 * still told apart from an API token, and refused as a JWT).
 */
export const isJwtShaped = (text: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text);

/** Raised inside the key lookup when the issuer's keys cannot be had; becomes `unavailable`. */
class KeysUnavailable extends Error {}

const message = (error: unknown): string => {
  const text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${text}${cause}`.slice(0, 500);
};

/** A value for a refusal sentence: quoted, control characters escaped, bounded. */
const quoted = (value: unknown, max = 200): string => JSON.stringify(typeof value === 'string' ? value.slice(0, max) : value)?.slice(0, max + 2) ?? 'nothing';

const when = (seconds: unknown): string =>
  typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) < 1e11 ? new Date(seconds * 1000).toISOString() : quoted(seconds);

/** Reads a response body, refusing one longer than `max` bytes. */
const boundedText = async (response: Response, max: number): Promise<string> => {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > max) throw new Error(`the response is larger than ${max} bytes`);
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`the response is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
};

/**
 * GET, no redirects, bounded in time (jose passes its own timeout signal) and size; a 200 resolves
 * to a response re-made from the body read so far, any other status to an empty one.
 */
const boundedFetch = async (url: string, init: RequestInit, timeoutMs: number): Promise<Response> => {
  const signal = init.signal ?? AbortSignal.timeout(timeoutMs);
  const response = await fetch(url, { ...init, method: 'GET', redirect: 'manual', signal });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    return new Response(null, { status: response.status });
  }
  const body = await boundedText(response, MAX_DOCUMENT_BYTES);
  return new Response(body, { status: 200, headers: { 'content-type': response.headers.get('content-type') ?? 'application/json' } });
};

/**
 * A value made once and kept; a failure is remembered for `cooldownMs` (answered at once, without
 * retrying), then the next call tries again. Concurrent callers share one attempt.
 */
const cachedWithCooldown = <A>(make: () => Promise<A>, cooldownMs: number): (() => Promise<A>) => {
  let value: { readonly ok: A } | undefined;
  let failure: { readonly error: unknown; readonly at: number } | undefined;
  let pending: Promise<A> | undefined;
  return async () => {
    if (value !== undefined) return value.ok;
    if (failure !== undefined && Date.now() < failure.at + cooldownMs) throw failure.error;
    pending ??= make().then(
      (ok) => {
        value = { ok };
        failure = undefined;
        pending = undefined;
        return ok;
      },
      (error: unknown) => {
        failure = { error, at: Date.now() };
        pending = undefined;
        throw error;
      },
    );
    return pending;
  };
};

type KeySet = (...args: Parameters<JWTVerifyGetKey>) => ReturnType<JWTVerifyGetKey>;

/** `${issuer}/.well-known/openid-configuration` -> jwks_uri, checked, then jose's cached remote JWKS. */
const discoveredKeys = (issuer: string, timeoutMs: number, cacheMaxAgeMs: number, cooldownMs: number) => async (): Promise<KeySet> => {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await boundedFetch(url, { headers: { accept: 'application/json' } }, timeoutMs);
  if (response.status !== 200) throw new Error(`${url} answered HTTP ${response.status}`);
  let document: unknown;
  try {
    document = await response.json();
  } catch {
    throw new Error(`${url} did not answer with JSON`);
  }
  const fields = typeof document === 'object' && document !== null ? (document as Record<string, unknown>) : {};
  if (fields.issuer !== issuer) throw new Error(`${url} names the issuer ${quoted(fields.issuer)}, not ${quoted(issuer)}`);
  const jwksUri = fields.jwks_uri;
  if (typeof jwksUri !== 'string' || !isIssuerUrl(jwksUri)) {
    throw new Error(`${url} has no usable jwks_uri (an https URL, or http on a loopback host): got ${quoted(jwksUri)}`);
  }
  return createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    cacheMaxAge: cacheMaxAgeMs,
    cooldownDuration: cooldownMs,
    [customFetch]: (resource, init) => boundedFetch(resource, init, timeoutMs),
  });
};

const fileKeys = (file: string) => async (): Promise<KeySet> => {
  const text = await fs.readFile(file, 'utf8').catch((error: unknown) => {
    throw new Error(`the JWKS file ${file} cannot be read: ${message(error)}`);
  });
  try {
    return createLocalJWKSet(JSON.parse(text));
  } catch (error) {
    throw new Error(`the JWKS file ${file} is not a JSON Web Key Set: ${message(error)}`);
  }
};

/** Errors that say the token does not match the keys, as opposed to the keys being unobtainable. */
const isTokenFault = (error: unknown): boolean =>
  error instanceof errors.JWKSNoMatchingKey ||
  error instanceof errors.JWKSMultipleMatchingKeys ||
  error instanceof errors.JOSENotSupported ||
  error instanceof errors.JOSEAlgNotAllowed;

interface IssuerKeys {
  readonly config: OidcIssuer;
  readonly getKey: JWTVerifyGetKey;
}

const issuerKeys = (config: OidcIssuer, timeoutMs: number, cacheMaxAgeMs: number, cooldownMs: number): IssuerKeys => {
  const keySet = cachedWithCooldown(
    config.jwksFile === undefined ? discoveredKeys(config.issuer, timeoutMs, cacheMaxAgeMs, cooldownMs) : fileKeys(config.jwksFile),
    cooldownMs,
  );
  const getKey: JWTVerifyGetKey = async (header, token) => {
    let keys: KeySet;
    try {
      keys = await keySet();
    } catch (error) {
      throw new KeysUnavailable(message(error));
    }
    try {
      return await keys(header, token);
    } catch (error) {
      if (isTokenFault(error)) throw error;
      throw new KeysUnavailable(`the JWKS of ${config.issuer} cannot be fetched: ${message(error)}`);
    }
  };
  return { config, getKey };
};

const refusalFor = (error: unknown, issuer: IssuerKeys, header: Record<string, unknown>, claims: JWTPayload): OidcRefusal => {
  const { name, audience } = issuer.config;
  if (error instanceof KeysUnavailable) {
    return {
      kind: 'unavailable',
      reason: `the signing keys of OIDC issuer ${quoted(name)} cannot be fetched right now; try again later`,
      detail: error.message,
    };
  }
  if (error instanceof errors.JWTExpired) {
    return { kind: 'expired', reason: `the token expired at ${when(claims.exp)}; request a fresh one` };
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') {
      return { kind: 'not-yet-valid', reason: `the token is not valid before ${when(claims.nbf)}; check the clocks` };
    }
    if (error.claim === 'aud' && error.reason === 'check_failed') {
      return {
        kind: 'wrong-audience',
        reason: `the token's audience ${quoted(claims.aud)} is not one this server accepts (${audience.map((a) => quoted(a)).join(', ')})`,
      };
    }
    if (error.reason === 'missing') return { kind: 'invalid', reason: `the token has no ${quoted(error.claim)} claim` };
    return { kind: 'invalid', reason: `the token's ${quoted(error.claim)} claim is not valid` };
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return { kind: 'bad-signature', reason: `the token's signature does not verify with the keys of OIDC issuer ${quoted(name)}` };
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    const kid = header.kid === undefined ? 'no kid' : `kid ${quoted(header.kid, 100)}`;
    return { kind: 'bad-signature', reason: `no key of OIDC issuer ${quoted(name)} matches the token (${kid}, alg ${quoted(header.alg, 20)})` };
  }
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) {
    return { kind: 'invalid', reason: `the token is not a valid signed JWT: ${message(error).slice(0, 200)}` };
  }
  return { kind: 'invalid', reason: 'the token could not be verified' };
};

/** jose v6 does not try several candidate keys itself: try each until one verifies. */
const verifyWithCandidates = async (token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> => {
  try {
    return (await jwtVerify(token, getKey, options)).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let last: unknown = error;
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (candidateError) {
        last = candidateError;
        if (!(candidateError instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw last;
  }
};

/**
 * Verifies OIDC-issued JWTs of the configured issuers: the issuer is looked up from the unverified
 * `iss`, then signature (that issuer's keys), `iss`, `aud`, `exp` (required) and `nbf` are checked,
 * with 30 s of clock tolerance. Discovered keys are fetched on first use and cached; a local JWKS
 * file is read on first use.
 */
export const oidcVerifier = (issuers: readonly OidcIssuer[], options?: OidcVerifierOptions): OidcVerifier => {
  const timeoutMs = Math.max(1, Math.round(options?.timeoutMs ?? 5000));
  const cacheMaxAgeMs = options?.cacheMaxAgeMs ?? 10 * 60 * 1000;
  const cooldownMs = options?.cooldownMs ?? 30 * 1000;
  const byIssuer = new Map(issuers.map((config) => [config.issuer, issuerKeys(config, timeoutMs, cacheMaxAgeMs, cooldownMs)]));

  const verify = async (token: string): Promise<E.Either<OidcRefusal, OidcIdentity>> => {
    if (token.length > MAX_TOKEN_LENGTH) return E.left({ kind: 'invalid', reason: `the token is longer than ${MAX_TOKEN_LENGTH} characters` });
    if (!isJwtShaped(token)) return E.left({ kind: 'not-jwt', reason: 'the token is not a JWT (three base64url parts separated by dots)' });
    let header: Record<string, unknown>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      return E.left({ kind: 'not-jwt', reason: 'the token is not a JWT: its header or claims are not base64url-encoded JSON objects' });
    }
    if (typeof header.alg !== 'string' || !ACCEPTED_ALGORITHMS.includes(header.alg)) {
      return E.left({
        kind: 'invalid',
        reason: `the token's algorithm ${quoted(header.alg, 20)} is not accepted; only asymmetric signatures are (${ACCEPTED_ALGORITHMS.join(', ')})`,
      });
    }
    if (typeof unverified.iss !== 'string') return E.left({ kind: 'invalid', reason: 'the token has no "iss" claim naming its issuer' });
    const issuer = byIssuer.get(unverified.iss);
    if (issuer === undefined) {
      const iss = unverified.iss.slice(0, 200);
      return E.left({ kind: 'unknown-issuer', issuer: iss, reason: `the token's issuer ${quoted(iss)} is not an OIDC issuer this server accepts` });
    }
    try {
      const claims = await verifyWithCandidates(token, issuer.getKey, {
        issuer: issuer.config.issuer,
        audience: issuer.config.audience,
        algorithms: ACCEPTED_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp'],
      });
      return E.right({ issuer: issuer.config.issuer, name: issuer.config.name, claims: Object.freeze({ ...claims }) });
    } catch (error) {
      return E.left(refusalFor(error, issuer, header, unverified));
    }
  };

  return { verify, issuers };
};
