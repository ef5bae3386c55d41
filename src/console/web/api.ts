import { takeEarly } from './early.js';
import { parseExact } from './exact-json.js';

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

const JSON_ANSWER = { accept: 'application/json' };

/** A GET as every page sends it; boot.ts sends a page's first ones early, the same way. */
export const getJson = (path: string): Promise<Response> => fetch(path, { credentials: 'same-origin', headers: JSON_ANSWER });

/** `path` asked for (GET unless `init` says otherwise), the answer decoded or the API's error thrown. */
export const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
  const reply = await (init === undefined
    ? (takeEarly(path) ?? getJson(path))
    : fetch(path, { credentials: 'same-origin', ...init, headers: { ...JSON_ANSWER, ...(init.headers as Record<string, string> | undefined) } }));
  if (!reply.ok) {
    const body = (await reply.json().catch(() => ({}))) as { error?: string; message?: string };
    throw new ApiError(reply.status, body.error ?? 'error', body.message ?? `the server answered ${reply.status}`);
  }
  return parseExact(await reply.text()) as T;
};

/** A change through the JSON API: a JSON body (or none) and the method; the answer decoded. */
export const send = <T>(path: string, method: 'POST' | 'PUT' | 'DELETE', body?: unknown): Promise<T> =>
  api<T>(path, body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export interface Grant {
  readonly role: 'outputs' | 'read' | 'write' | 'admin';
  readonly glob: string;
}

export interface Me {
  readonly actor: string;
  readonly grants: readonly Grant[];
}

/** GET /states/NAME/lock: the LockInfo Terraform sent, and who took it when. */
export interface LockInfo {
  readonly ID: string;
  readonly Operation?: string;
  readonly Who?: string;
  readonly acquired_at: string;
  readonly acquired_by: string;
  readonly lease_until: string | null;
  readonly expired: boolean;
}

export interface StateListing {
  readonly name: string;
  readonly version: number | null;
  readonly size: number | null;
  readonly updated_at: string | null;
  /** Who wrote the current version: the actor, and the Who of the lock held then. */
  readonly updated_by: string | null;
  readonly who: string | null;
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
  readonly lineage: string | null;
  readonly encrypted: boolean;
  readonly restored_from: number | null;
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

/** An entry of GET /states/NAME/events, GET /events and of each /events/stream message. */
export interface LedgerEvent {
  readonly position: number;
  readonly state: string;
  readonly stream_version: number;
  readonly type: string;
  readonly recorded_at: string;
  readonly actor: string;
  readonly request_id: string | null;
  readonly lock_id: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** GET /states/NAME/diff: resource addresses and the names of changed attributes, never their values. */
export interface StateDiff {
  readonly from: number | null;
  readonly to: number;
  readonly resources: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: ReadonlyArray<{ readonly address: string; readonly attributes: readonly string[] }>;
  };
  readonly outputs: {
    readonly added: ReadonlyArray<{ readonly name: string; readonly sensitive: boolean; readonly value?: unknown }>;
    readonly removed: ReadonlyArray<{ readonly name: string; readonly sensitive: boolean }>;
    readonly changed: ReadonlyArray<{ readonly name: string; readonly sensitive: boolean; readonly before?: unknown; readonly after?: unknown }>;
  };
}
