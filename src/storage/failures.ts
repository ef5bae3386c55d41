/**
 * Faults of what the server depends on, told apart from bugs. A dependency that is down, slow or
 * full is the server's problem, never the client's: the request answers 503 (or 507 for a full
 * disk) so the clients retry, and the server carries on.
 */
export type Dependency = 'postgres' | 'object store' | 'disk';

export interface DependencyFault {
  readonly dependency: Dependency;
  /** `full`: no space left (507); `unavailable`: down, unreachable, restarting or too slow (503). */
  readonly problem: 'unavailable' | 'full';
}

/** Thrown by adapters when a dependency fails in a way they recognise (a timeout, say). */
export class DependencyFailure extends Error {
  constructor(
    readonly fault: DependencyFault,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DependencyFailure';
  }
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
const DISK_FAULT_CODES = new Set(['EIO', 'EROFS', 'EMFILE', 'ENFILE']);

/**
 * SQLSTATEs that mean the database is unavailable rather than our SQL wrong: connection exceptions
 * (08), insufficient resources (53), operator intervention such as a restart or a cancelled
 * statement (57), and serialization failures that only a retry settles (40001, 40P01).
 */
const pgUnavailable = (code: string): boolean =>
  code.startsWith('08') || code.startsWith('53') || code.startsWith('57') || code === '40001' || code === '40P01' || code === '55P03';

/** pg's own messages when the connection itself failed; they carry no SQLSTATE. */
const PG_CONNECTION_MESSAGE =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Query read timeout|not queryable|Client was closed|terminating connection/i;

/** The fault behind an error thrown by an adapter, or undefined for anything else (a bug: 500). */
export const faultOf = (error: unknown): DependencyFault | undefined => {
  if (error instanceof DependencyFailure) return error.fault;
  const code = codeOf(error);
  const name = (error as { name?: unknown } | null)?.name;
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E')) {
    if (code === '53100') return { dependency: 'postgres', problem: 'full' };
    return pgUnavailable(code) ? { dependency: 'postgres', problem: 'unavailable' } : undefined;
  }
  if (code !== undefined && DISK_FULL_CODES.has(code)) return { dependency: 'disk', problem: 'full' };
  if (code !== undefined && DISK_FAULT_CODES.has(code)) return { dependency: 'disk', problem: 'unavailable' };
  if (code !== undefined && NETWORK_CODES.has(code)) return { dependency: 'postgres', problem: 'unavailable' };
  if (name === 'DatabaseError') return undefined;
  if (error instanceof Error && PG_CONNECTION_MESSAGE.test(error.message)) return { dependency: 'postgres', problem: 'unavailable' };
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error ? faultOf(cause) : undefined;
};
