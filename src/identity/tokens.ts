import { createHash, randomBytes } from 'node:crypto';

/** Secrets start with this, so that a log scanner (and the auth layer) can tell them from JWTs and passwords. */
export const TOKEN_PREFIX = 'slt_';

/** A new API token secret: 256 random bits. */
export const generateTokenSecret = (): string => `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;

/** What is stored of a secret. Its 256 random bits need no slow hash: nobody can guess them. */
export const secretSha256 = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

export const looksLikeToken = (text: string): boolean => /^slt_[A-Za-z0-9_-]{43}$/.test(text);
