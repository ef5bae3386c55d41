import { createHash, randomUUID } from 'node:crypto';
import { basicAuth, PASSWORD, USER } from './server.js';

/**
 * Sends exactly what the http backend client of Terraform and OpenTofu sends
 * (internal/backend/remote-state/http/client.go): a body, when there is one, always comes with
 * Content-Type: application/json and a base64 Content-MD5; the lock ID travels as ?ID= on writes.
 */

export interface LockInfo {
  ID: string;
  Operation: string;
  Info: string;
  Who: string;
  Version: string;
  Created: string;
  Path: string;
}

/** statemgr.LockInfo as Go marshals it (field order and empty strings included). */
export const newLockInfo = (overrides: Partial<LockInfo> = {}): LockInfo => ({
  ID: randomUUID(),
  Operation: 'OperationTypeApply',
  Info: '',
  Who: 'runner@ci-host',
  Version: '1.9.8',
  Created: new Date().toISOString().replace('Z', '123456Z'),
  Path: '',
  ...overrides,
});

export interface GoClientOptions {
  readonly address: string;
  readonly lockAddress?: string;
  readonly unlockAddress?: string;
  readonly lockMethod?: string;
  readonly unlockMethod?: string;
  readonly updateMethod?: string;
  readonly username?: string;
  readonly password?: string;
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

export const md5Base64 = (data: Buffer): string => createHash('md5').update(data).digest('base64');

/** httpClient.httpRequest: data === undefined means a nil body (no Content-Type, no Content-MD5). */
const httpRequest = async (options: GoClientOptions, method: string, url: string, data?: Buffer): Promise<Reply> => {
  const headers: Record<string, string> = {
    authorization: basicAuth(options.username ?? USER, options.password ?? PASSWORD),
    'user-agent': 'Go-http-client/1.1',
  };
  if (data !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-md5'] = md5Base64(data);
  }
  const response = await fetch(url, { method, headers, ...(data === undefined ? {} : { body: new Uint8Array(data) }) });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
};

/** What Lock returns to the caller: the ID it holds, or the holder ID parsed as the client parses it. */
export type LockOutcome = { locked: true } | { locked: false; status: number; holderId: string | undefined; reply: Reply };

export class GoHttpClient {
  private lockId = '';
  private jsonLockInfo: Buffer | undefined;

  constructor(readonly options: GoClientOptions) {}

  get heldLockId(): string {
    return this.lockId;
  }

  async lock(info: LockInfo): Promise<LockOutcome> {
    this.lockId = '';
    const json = Buffer.from(JSON.stringify(info));
    const reply = await httpRequest(this.options, this.options.lockMethod ?? 'LOCK', this.options.lockAddress ?? this.options.address, json);
    if (reply.status === 200) {
      this.lockId = info.ID;
      this.jsonLockInfo = json;
      return { locked: true };
    }
    let holderId: string | undefined;
    if (reply.status === 409 || reply.status === 423) {
      try {
        holderId = (JSON.parse(reply.body.toString('utf8')) as { ID?: string }).ID;
      } catch {
        holderId = undefined; // the client reports "failed to unmarshal body"
      }
    }
    return { locked: false, status: reply.status, holderId, reply };
  }

  /** Unlock sends the LockInfo kept from Lock; a fresh process (terraform force-unlock) has none: an empty body. */
  unlock(): Promise<Reply> {
    return httpRequest(
      this.options,
      this.options.unlockMethod ?? 'UNLOCK',
      this.options.unlockAddress ?? this.options.address,
      this.jsonLockInfo ?? Buffer.alloc(0),
    );
  }

  /** OpenTofu 1.10+ force-unlock: a LockInfo carrying only the ID. */
  forceUnlockOpenTofu(id: string): Promise<Reply> {
    return httpRequest(
      this.options,
      this.options.unlockMethod ?? 'UNLOCK',
      this.options.unlockAddress ?? this.options.address,
      Buffer.from(JSON.stringify({ ID: id })),
    );
  }

  put(data: Buffer): Promise<Reply> {
    const url = new URL(this.options.address);
    if (this.lockId !== '') url.searchParams.set('ID', this.lockId);
    return httpRequest(this.options, this.options.updateMethod ?? 'POST', url.toString(), data);
  }

  get(): Promise<Reply> {
    return httpRequest(this.options, 'GET', this.options.address);
  }

  delete(): Promise<Reply> {
    return httpRequest(this.options, 'DELETE', this.options.address);
  }
}

/** The seed configuration's style: lock_address=.../lock, unlock_address=.../unlock, both POST. */
export const seedStyleClient = (baseUrl: string, name: string, overrides: Partial<GoClientOptions> = {}): GoHttpClient =>
  new GoHttpClient({
    address: `${baseUrl}/states/${name}`,
    lockAddress: `${baseUrl}/states/${name}/lock`,
    unlockAddress: `${baseUrl}/states/${name}/unlock`,
    lockMethod: 'POST',
    unlockMethod: 'POST',
    ...overrides,
  });

/** The clients' defaults: LOCK and UNLOCK on the state's own address. */
export const defaultClient = (baseUrl: string, name: string, overrides: Partial<GoClientOptions> = {}): GoHttpClient =>
  new GoHttpClient({
    address: `${baseUrl}/states/${name}`,
    lockAddress: `${baseUrl}/states/${name}`,
    unlockAddress: `${baseUrl}/states/${name}`,
    ...overrides,
  });

/** A plain Terraform state document (format version 4) as `terraform state push` would send it. */
export const stateDocument = (serial: number, lineage = 'c0ffee00-0000-4000-8000-000000000001', extra: Record<string, unknown> = {}): Buffer =>
  Buffer.from(
    `${JSON.stringify(
      {
        version: 4,
        terraform_version: '1.9.8',
        serial,
        lineage,
        outputs: { greeting: { value: `hello ${serial}`, type: 'string' } },
        resources: [],
        check_results: null,
        ...extra,
      },
      null,
      2,
    )}\n`,
  );

/** An OpenTofu-encrypted state: the payload is opaque and must come back byte for byte. */
export const encryptedDocument = (serial: number): Buffer =>
  Buffer.from(
    JSON.stringify({
      serial,
      lineage: 'c0ffee00-0000-4000-8000-0000000000e1',
      meta: { 'key_provider.pbkdf2.main': 'eyJzYWx0IjoiLi4uIn0=' },
      encrypted_data: Buffer.from(`secret payload ${serial}`).toString('base64'),
      encryption_version: 'v0',
    }),
  );
