import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * A safety net only: no log line is meant to carry these (the access log keeps only its own
 * fields), but a request or headers object logged by mistake loses its credentials here.
 */
const REDACTED = [
  'authorization',
  'cookie',
  'password',
  'token',
  'secret',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.token',
  '*.secret',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
];

/** JSON lines on stdout: what log shippers expect from a server. */
export const createLogger = (level: string): Logger =>
  pino({ level, base: { service: 'state-ledger' }, redact: { paths: REDACTED, censor: '[redacted]' } });
