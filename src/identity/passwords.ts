import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { PasswordHash } from '../events/access-events.js';

/** scrypt's cost today (N = 2^15, 32 MiB per hash); stored with each hash, so raising it later leaves old hashes readable. */
export const SCRYPT_COST = { N: 32768, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

const derive = (password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const options: ScryptOptions = { ...cost, maxmem: 128 * cost.N * cost.r * 2 };
    // Runs on libuv's thread pool: the event loop carries on while it works.
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });

export const hashPassword = async (password: string): Promise<PasswordHash> => {
  const salt = randomBytes(16);
  const key = await derive(password, salt, SCRYPT_COST);
  return { algorithm: 'scrypt', ...SCRYPT_COST, salt: salt.toString('base64'), hash: key.toString('base64') };
};

/** Parameters a stored hash may ask for; anything beyond is refused rather than computed (a tampered row could ask for gigabytes). */
const sane = (h: PasswordHash): boolean =>
  Number.isInteger(Math.log2(h.N)) && h.N >= 2 && h.r >= 1 && h.p >= 1 && h.p <= 4 && 128 * h.N * h.r <= 256 * 1024 * 1024;

export const verifyPassword = async (password: string, stored: PasswordHash): Promise<boolean> => {
  if (!sane(stored)) return false;
  const expected = Buffer.from(stored.hash, 'base64');
  const key = await derive(password, Buffer.from(stored.salt, 'base64'), stored);
  return key.length === expected.length && timingSafeEqual(key, expected);
};

/** A password for a user created without one given: 144 random bits, typeable. */
export const generatePassword = (): string => randomBytes(18).toString('base64url');
