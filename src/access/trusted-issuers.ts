import * as E from 'fp-ts/lib/Either.js';
import { parseSubject, type Grant } from './roles.js';

/** An issuer the server trusts, as a grant may name it: by URL or by its configured name. */
export interface TrustedIssuer {
  readonly issuer: string;
  readonly name: string;
}

/** A grant to an issuer the server does not trust would never match: a sentence naming the ones it does. */
export const untrustedIssuer = (grant: Grant, trusted: readonly TrustedIssuer[]): string | undefined => {
  const subject = parseSubject(grant.subject);
  if (E.isLeft(subject) || subject.right.kind !== 'oidc') return undefined;
  const { issuer } = subject.right;
  if (trusted.some((known) => known.issuer === issuer || known.name === issuer)) return undefined;
  const names = trusted.map((known) => (known.name === known.issuer ? known.issuer : `${known.name} (${known.issuer})`));
  return `${grant.subject} names an issuer this server does not trust; configured: ${names.length === 0 ? 'none (set OIDC_ISSUERS)' : names.join(', ')}`;
};
