import fs from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import type { Config } from '../config.js';
import { Refused } from '../refused.js';
import { decodeOidcIssuers, type OidcIssuer } from './oidc-issuers.js';

/** OIDC_ISSUERS and the file OIDC_ISSUERS_FILE names, together; a bad file refuses the start with one line. */
export const loadOidcIssuers = async (config: Config): Promise<readonly OidcIssuer[]> => {
  if (config.oidcIssuersFile === undefined) return config.oidcIssuers;
  const text = await fs.readFile(config.oidcIssuersFile, 'utf8').catch((error: Error) => {
    throw new Refused(`OIDC_ISSUERS_FILE ${config.oidcIssuersFile} cannot be read: ${error.message}`);
  });
  const decoded = decodeOidcIssuers(text);
  if (E.isLeft(decoded)) throw new Refused(`OIDC_ISSUERS_FILE ${config.oidcIssuersFile}: ${decoded.left}`);
  return [...config.oidcIssuers, ...decoded.right];
};
