import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout: what log shippers expect from a server. */
export const createLogger = (level: string): Logger => pino({ level, base: { service: 'state-ledger' } });
