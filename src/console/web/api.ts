/** The JSON API, called with the session cookie; errors carry the API's own sentence. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
  const reply = await fetch(path, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...(init.headers as Record<string, string> | undefined) } });
  if (!reply.ok) {
    const body = (await reply.json().catch(() => ({}))) as { error?: string; message?: string };
    throw new ApiError(reply.status, body.error ?? 'error', body.message ?? `the server answered ${reply.status}`);
  }
  return (await reply.json()) as T;
};

/** A path segment of a state name, with its `/`s kept (nested names are paths). */
export const statePath = (name: string): string => `/states/${name.split('/').map(encodeURIComponent).join('/')}`;

export interface Grant {
  readonly role: 'outputs' | 'read' | 'write' | 'admin';
  readonly glob: string;
}

export interface Me {
  readonly actor: string;
  readonly grants: readonly Grant[];
}

export interface LockInfo {
  readonly ID: string;
  readonly Operation?: string;
  readonly Who?: string;
  readonly acquired_at?: string;
  readonly lease_until?: string | null;
  readonly expired?: boolean;
}

export interface StateListing {
  readonly name: string;
  readonly version: number | null;
  readonly size: number | null;
  readonly updated_at: string | null;
  readonly lock: { readonly id: string; readonly who: string | null; readonly operation: string | null; readonly acquired_at: string; readonly acquired_by: string } | null;
}

/** GET /locks: every held lock, with its lease. */
export interface HeldLock extends LockInfo {
  readonly state: string;
  readonly acquired_by: string;
  readonly age_seconds: number;
}

export interface Version {
  readonly version: number;
  readonly serial: number;
  readonly size: number;
  readonly resources: number | null;
  readonly instances: number | null;
  readonly created_at: string;
  readonly created_by: string;
  readonly operation: string | null;
  readonly who: string | null;
  readonly pruned: unknown;
}

export interface Run {
  readonly first_version: number;
  readonly last_version: number;
  readonly versions: number;
  readonly operation: string | null;
  readonly who: string | null;
  readonly started_by: string;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly ended: string | null;
  readonly resources: { readonly added: number; readonly changed: number; readonly removed: number } | null;
  readonly resources_unknown: string | null;
}

export interface Resource {
  readonly state: string;
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly module: string;
  readonly id: string | null;
}
