import { createHash } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { newLockInfo, type LockInfo, md5Base64, stateDocument } from '../support/go-client.js';
import { ALICE, DUMP, runHostileCases, sendRaw, STACK, type HostileRequest, type RawReply } from '../support/hostile.js';
import { basicAuth, PASSWORD, startServer, USER, type TestServer } from '../support/server.js';

/**
 * Issue 6, item 14: hostile input on every route. Each kind of bad input must be answered by a
 * clear 4xx JSON error (or the holder's LockInfo for a lock conflict), change nothing (state
 * bytes, versions, locks, the event count), and leave the server serving.
 *
 * Two states are the targets. `victim` has two versions and is locked by HOLDER: bad pushes,
 * deletes and rollbacks are sent with the holder's ID, so a bad input wrongly accepted would make
 * a version or delete it; bad unlocks would release it. `open` has two versions and no lock: bad
 * lock infos are sent there, so one wrongly accepted would take the lock.
 */

const VICTIM = 'victim';
const OPEN = 'open';
const LINEAGE = 'c0ffee00-0000-4000-8000-000000000001';
const HOLDER: LockInfo = newLockInfo({ ID: 'holder-lock-0001', Who: 'holder@ci', Operation: 'OperationTypeApply' });
const H = HOLDER.ID;

type Expect =
  /** A JSON error {error, message}; `error` pins the code, `says` what the message must name. */
  | { readonly status: number | readonly number[]; readonly error?: string; readonly says?: RegExp }
  /** A lock conflict: the holder's LockInfo as the body. */
  | { readonly status: 409 | 423; readonly holder: true }
  /** The client went away: nobody to answer. */
  | { readonly noReply: true };

interface Case {
  readonly kind: string;
  readonly request: HostileRequest;
  readonly expect: Expect;
  /** How long to wait for the answer (stalled requests). */
  readonly waitMs?: number;
}

interface Ctx {
  readonly server: TestServer;
  /** 127.0.0.1:PORT */
  readonly host: string;
  /** http://127.0.0.1:PORT */
  readonly origin: string;
}

// ---------------------------------------------------------------------------------------------
// Bodies

const JSON_TYPE: ReadonlyArray<readonly [string, string]> = [['Content-Type', 'application/json']];

/** A plain state document as raw JSON text; each field's raw text can be replaced, or dropped with undefined. */
const BASE_FIELDS: Readonly<Record<string, string>> = {
  version: '4',
  terraform_version: '"1.9.8"',
  serial: '3',
  lineage: JSON.stringify(LINEAGE),
  outputs: '{"greeting":{"value":"hello","type":"string"}}',
  resources: '[]',
  check_results: 'null',
};
const docText = (over: Readonly<Record<string, string | undefined>> = {}, base = BASE_FIELDS): string =>
  `{${Object.entries({ ...base, ...over })
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${JSON.stringify(key)}:${value}`)
    .join(',')}}`;

const ENCRYPTED_FIELDS: Readonly<Record<string, string>> = {
  serial: '3',
  lineage: '"c0ffee00-0000-4000-8000-0000000000e1"',
  meta: '{"key_provider.pbkdf2.main":"eyJzYWx0IjoiLi4uIn0="}',
  encrypted_data: JSON.stringify(Buffer.from('secret payload').toString('base64')),
  encryption_version: '"v0"',
};
const encText = (over: Readonly<Record<string, string | undefined>> = {}): string => docText(over, ENCRYPTED_FIELDS);

/** `text` with the marker @@ replaced by raw bytes. */
const withBytes = (text: string, bytes: readonly number[]): Buffer => {
  const [before = '', after = ''] = text.split('@@');
  return Buffer.concat([Buffer.from(before, 'utf8'), Buffer.from(bytes), Buffer.from(after, 'utf8')]);
};
const outputWith = (value: string) => docText({ outputs: `{"x":{"value":"${value}","type":"string"}}` });

const VALID_DOC = docText();
const lockJson = (over: Record<string, unknown> = {}) => JSON.stringify({ ...newLockInfo({ ID: 'intruder-lock' }), ...over });
const ROLLBACK = '{"version":1,"reason":"apply 7 broke DNS"}';

// ---------------------------------------------------------------------------------------------
// Requests

const push = (body: string | Buffer, extra: Partial<HostileRequest> = {}): HostileRequest => ({
  method: 'POST',
  path: `/states/${VICTIM}?ID=${H}`,
  headers: JSON_TYPE,
  body,
  ...extra,
});
const LOCK_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['POST', `/states/${OPEN}/lock`],
  ['LOCK', `/states/${OPEN}`],
  ['LOCK', `/states/${OPEN}/lock`],
];
const UNLOCK_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['UNLOCK', `/states/${VICTIM}`],
  ['POST', `/states/${VICTIM}/unlock`],
  ['UNLOCK', `/states/${VICTIM}/unlock`],
];
/** Lock (or unlock) cases rotate over the three routes that take each. */
const rotate = (routes: ReadonlyArray<readonly [string, string]>, cases: ReadonlyArray<readonly [string, string | Buffer, Expect, Partial<HostileRequest>?]>): Case[] =>
  cases.map(([kind, body, expect, extra], i) => {
    const [method, path] = routes[i % routes.length]!;
    return { kind: `${kind} (${method} ${path.replace(/^\/states\/[^/]+/, '') || 'on the state'})`, request: { method, path, headers: JSON_TYPE, body, ...extra }, expect };
  });
const rollback = (body: string | Buffer, extra: Partial<HostileRequest> = {}): HostileRequest => ({
  method: 'POST',
  path: `/states/${VICTIM}/rollback?ID=${H}`,
  headers: JSON_TYPE,
  body,
  ...extra,
});
const get = (path: string, extra: Partial<HostileRequest> = {}): HostileRequest => ({ method: 'GET', path, ...extra });

const bad = (says?: RegExp, error?: string): Expect => ({ status: 400, ...(says === undefined ? {} : { says }), ...(error === undefined ? {} : { error }) });
const HELD: Expect = { status: 423, holder: true };

// ---------------------------------------------------------------------------------------------
// The tables

const auth = (): Case[] => {
  const valid = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  // USER:PASSWORD is 34 bytes: the last group is one byte, so the character before "==" has four unused bits.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = valid.length - 3;
  const nonCanonical = `${valid.slice(0, last)}${alphabet[alphabet.indexOf(valid[last]!) ^ 1]}${valid.slice(last + 1)}`;
  const b64 = (bytes: Buffer | string) => `Basic ${Buffer.from(bytes).toString('base64')}`;
  const unauthorized: Expect = { status: 401, error: 'unauthorized' };
  const read = (authorization: string | null, extra: Partial<HostileRequest> = {}): HostileRequest => ({ path: '/states', auth: authorization, ...extra });
  const write = (authorization: string | null, extra: Partial<HostileRequest> = {}): HostileRequest => ({
    method: 'POST',
    path: `/states/${OPEN}`,
    headers: JSON_TYPE,
    body: VALID_DOC,
    auth: authorization,
    ...extra,
  });
  const forceUnlock = (authorization: string): HostileRequest => ({ method: 'UNLOCK', path: `/states/${VICTIM}`, auth: authorization });
  const cases: Array<[string, HostileRequest]> = [
    ['no Authorization header on a read', read(null)],
    ['no Authorization header on a push', write(null)],
    ['wrong password', write(basicAuth(USER, 'wrong'))],
    ['unknown user', read(basicAuth('mallory', PASSWORD))],
    ["another user's password", write(basicAuth(USER, 'hunter2'))],
    ['user name in another case', read(basicAuth('ALICE', PASSWORD))],
    ['password with a trailing newline', read(b64(`${USER}:${PASSWORD}\n`))],
    ['Bearer scheme', read('Bearer abc.def.ghi')],
    ['Digest scheme', read('Digest username="alice", realm="state-ledger"')],
    ['"Basic" with no credentials', forceUnlock('Basic')],
    ['valid credentials followed by "=junk"', write(`Basic ${valid}=junk`)],
    ['valid credentials followed by a space and garbage', forceUnlock(`Basic ${valid} trailing`)],
    ['valid credentials followed by more base64 (decodes to NULs after the password)', write(`Basic ${valid}AAAA`)],
    ['credentials without a colon', read(b64(`${USER}${PASSWORD}`))],
    ['only a colon', read(b64(':'))],
    ['user name and colon, no password', write(b64(`${USER}:`))],
    ['credentials that are not UTF-8', read(`Basic ${Buffer.concat([Buffer.from(`${USER}:`), Buffer.from([0xff, 0xfe]), Buffer.from(PASSWORD)]).toString('base64')}`)],
    ['raw non-ASCII bytes in the header', read('Basic \xff\xfe\xfd\xfc')],
    ['non-canonical base64 (unused bits set)', write(`Basic ${nonCanonical}`)],
    ['base64 without its padding', forceUnlock(`Basic ${valid.replace(/=+$/, '')}`)],
    ['base64 with a space inside', read(`Basic ${valid.slice(0, 8)} ${valid.slice(8)}`)],
    ['two spaces after the scheme', write(`Basic  ${valid}`)],
    ['a tab instead of the space', read(`Basic\t${valid}`)],
    ['base64 text lower-cased', read(`Basic ${valid.toLowerCase()}`)],
    ['base64url alphabet characters', read(`Basic ${valid.slice(0, 4)}-_${valid.slice(6)}`)],
    ['an 8 KB credential', read(b64(`${USER}:${'p'.repeat(6000)}`))],
    ['credentials only in Proxy-Authorization', read(null, { headers: [['Proxy-Authorization', ALICE]] })],
    ['a bad Authorization header followed by a good one', read(basicAuth(USER, 'wrong'), { headers: [['Authorization', ALICE]] })],
  ];
  return cases.map(([kind, request]) => ({ kind: `auth: ${kind}`, request, expect: unauthorized }));
};

const origins = (ctx: Ctx): Case[] => {
  const evil = 'https://evil.example';
  const refused: Expect = { status: 403, error: 'foreign_origin' };
  const withOrigin = (origin: string, request: HostileRequest): HostileRequest => ({ ...request, headers: [...(request.headers ?? []), ['Origin', origin]] });
  const [port] = ctx.host.split(':').slice(-1);
  const cases: Array<[string, string, HostileRequest]> = [
    ['POST push', evil, push(VALID_DOC)],
    ['PUT push', evil, push(VALID_DOC, { method: 'PUT' })],
    ['DELETE', evil, { method: 'DELETE', path: `/states/${OPEN}` }],
    ['LOCK on the state', evil, { method: 'LOCK', path: `/states/${OPEN}`, headers: JSON_TYPE, body: lockJson() }],
    ['POST /lock', evil, { method: 'POST', path: `/states/${OPEN}/lock`, headers: JSON_TYPE, body: lockJson() }],
    ['LOCK /lock', evil, { method: 'LOCK', path: `/states/${OPEN}/lock`, headers: JSON_TYPE, body: lockJson() }],
    ['UNLOCK with no body (a force-unlock)', evil, { method: 'UNLOCK', path: `/states/${VICTIM}` }],
    ["POST /unlock with the holder's ID", evil, { method: 'POST', path: `/states/${VICTIM}/unlock`, headers: JSON_TYPE, body: JSON.stringify({ ID: H }) }],
    ['UNLOCK /unlock with the LockInfo', evil, { method: 'UNLOCK', path: `/states/${VICTIM}/unlock`, headers: JSON_TYPE, body: JSON.stringify(HOLDER) }],
    ['POST rollback', evil, rollback(ROLLBACK)],
    ['Origin: null (a sandboxed page) on DELETE', 'null', { method: 'DELETE', path: `/states/${VICTIM}?ID=${H}` }],
    ['the same host on another port', `http://127.0.0.1:${Number(port) === 1 ? 2 : 1}`, push(VALID_DOC)],
    ['the same host and port over https', `https://${ctx.host}`, push(VALID_DOC)],
    ['localhost instead of 127.0.0.1', `http://localhost:${port}`, push(VALID_DOC)],
    ["the server's origin as a prefix of another host", `${ctx.origin}.evil.example`, push(VALID_DOC)],
    ["the server's origin and a foreign one in two Origin headers", ctx.origin, { ...push(VALID_DOC), headers: [...JSON_TYPE, ['Origin', evil]] }],
  ];
  return cases.map(([kind, origin, request]) => ({ kind: `origin: ${kind}`, request: withOrigin(origin, request), expect: refused }));
};

const encodings = (): Case[] => {
  const unsupported: Expect = { status: 415, error: 'unsupported_encoding' };
  const encoded = (encoding: string, request: HostileRequest): HostileRequest => ({ ...request, headers: [...(request.headers ?? []), ['Content-Encoding', encoding]] });
  const cases: Array<[string, HostileRequest]> = [
    ['gzip state push', encoded('gzip', push(gzipSync(VALID_DOC)))],
    ['deflate state push (PUT)', encoded('deflate', push(deflateSync(VALID_DOC), { method: 'PUT' }))],
    ['"gzip" on a plain, valid state', encoded('gzip', push(VALID_DOC))],
    ['br lock info', encoded('br', { method: 'POST', path: `/states/${OPEN}/lock`, headers: JSON_TYPE, body: brotliCompressSync(lockJson()) })],
    ['gzip force-unlock with no body', encoded('gzip', { method: 'UNLOCK', path: `/states/${VICTIM}` })],
    ['compress rollback', encoded('compress', rollback(ROLLBACK))],
    ['"gzip, identity"', encoded('gzip, identity', push(VALID_DOC))],
    ['"identity, gzip"', encoded('identity, gzip', { method: 'LOCK', path: `/states/${OPEN}`, headers: JSON_TYPE, body: lockJson() })],
    ['x-gzip', encoded('x-gzip', push(gzipSync(VALID_DOC)))],
  ];
  return cases.map(([kind, request]) => ({ kind: `content-encoding: ${kind}`, request, expect: unsupported }));
};

const stateBodies = (): Case[] => {
  const deep = (levels: number) => docText({ resources: `[${'['.repeat(levels)}${']'.repeat(levels)}]` });
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['empty body', push(''), bad(/empty/, 'empty_body')],
    ['only whitespace', push('  \n\t '), bad()],
    ['not JSON', push('this is not a state'), bad()],
    ['an array', push('[1,2,3]'), bad(/object/)],
    ['a JSON string', push('"state"'), bad(/object/)],
    ['a number', push('4'), bad(/object/)],
    ['null', push('null'), bad(/object/)],
    ['an empty object', push('{}'), bad(/serial/)],
    ['truncated', push(VALID_DOC.slice(0, -20)), bad()],
    ['trailing garbage', push(`${VALID_DOC}x`), bad()],
    ['two documents', push(`${VALID_DOC}${VALID_DOC}`), bad()],
    ['a trailing NUL byte', push(Buffer.concat([Buffer.from(VALID_DOC), Buffer.from([0])])), bad()],
    ['leading garbage (an XSSI prefix)', push(`)]}'\n${VALID_DOC}`), bad()],
    ['invalid UTF-8 byte in a string', push(withBytes(outputWith('a@@b'), [0xff])), bad(/UTF-8/)],
    ['overlong UTF-8 encoding', push(withBytes(outputWith('a@@b'), [0xc0, 0xaf])), bad(/UTF-8/)],
    ['UTF-8-encoded surrogate', push(withBytes(outputWith('a@@b'), [0xed, 0xa0, 0x80])), bad(/UTF-8/)],
    ['code point above U+10FFFF', push(withBytes(outputWith('a@@b'), [0xf4, 0x90, 0x80, 0x80])), bad(/UTF-8/)],
    ['truncated multi-byte sequence', push(withBytes(outputWith('a@@'), [0xe2, 0x82])), bad(/UTF-8/)],
    ['Latin-1 text', push(withBytes(outputWith('caf@@'), [0xe9])), bad(/UTF-8/)],
    ['a byte order mark', push(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(VALID_DOC)])), bad(/byte order mark/)],
    ['UTF-16LE', push(Buffer.from(VALID_DOC, 'utf16le')), bad()],
    ['a raw control character in a string', push(outputWith('line\nbreak')), bad()],
    ['nested 1001 levels deep', push(deep(1001)), bad(/nested|deep/)],
    ['nested 100,000 levels deep', push(deep(100_000)), bad(/nested|deep/)],
    ['a lineage of 257 bytes', push(docText({ lineage: JSON.stringify('l'.repeat(257)) })), bad(/lineage/)],
    ['a lineage of 129 characters but 258 bytes', push(docText({ lineage: JSON.stringify('é'.repeat(129)) })), bad(/lineage/)],
    ['a NUL in lineage', push(docText({ lineage: '"abc\\u0000"' })), bad(/lineage/)],
    ['an unpaired surrogate in terraform_version', push(docText({ terraform_version: '"1.9\\ud800"' })), bad(/terraform_version/)],
    ['serial -1', push(docText({ serial: '-1' })), bad(/serial/)],
    ['serial 1.5', push(docText({ serial: '1.5' })), bad(/serial/)],
    ['serial 2^53 + 1', push(docText({ serial: '9007199254740993' })), bad(/serial/)],
    ['serial 1e400', push(docText({ serial: '1e400' })), bad(/serial/)],
    ['serial 18446744073709551616 (past uint64)', push(docText({ serial: '18446744073709551616' })), bad(/serial/)],
    ['serial as a string', push(docText({ serial: '"3"' })), bad(/serial/)],
    ['serial null', push(docText({ serial: 'null' })), bad(/serial/)],
    ['serial missing', push(docText({ serial: undefined })), bad(/serial/)],
    ['serial written 1.0 (Go cannot read it into a uint64)', push(docText({ serial: '1.0' })), bad(/serial/)],
    ['serial written 1e2', push(docText({ serial: '1e2' })), bad(/serial/)],
    ['serial -0', push(docText({ serial: '-0' })), bad(/serial/)],
    ['serial 01 (a leading zero)', push(docText({ serial: '01' })), bad()],
    ['serial +3', push(docText({ serial: '+3' })), bad()],
    ['serial NaN', push(docText({ serial: 'NaN' })), bad()],
    ['serial repeated, the last one negative', push(docText({ check_results: 'null,"serial":-5' })), bad(/serial/)],
    ['version missing', push(docText({ version: undefined })), bad(/version/)],
    ['version as a string', push(docText({ version: '"4"' })), bad(/version/)],
    ['version 4.5', push(docText({ version: '4.5' })), bad(/version/)],
    ['version -1', push(docText({ version: '-1' })), bad(/version/)],
    ['version 1e400', push(docText({ version: '1e400' })), bad(/version/)],
    ['lineage missing', push(docText({ lineage: undefined })), bad(/lineage/)],
    ['lineage as a number', push(docText({ lineage: '12345' })), bad(/lineage/)],
    ['terraform_version as a number', push(docText({ terraform_version: '1.9' })), bad(/terraform_version/)],
    ['encrypted without encrypted_data', push(encText({ encrypted_data: undefined })), bad(/encrypted_data/)],
    ['encrypted with encrypted_data as a number', push(encText({ encrypted_data: '42' })), bad(/encrypted_data/)],
    ['encrypted without serial (an OpenTofu 1.7 alpha state)', push(encText({ serial: undefined })), bad(/serial/)],
    ['single quotes', push(VALID_DOC.replace(/"/g, "'")), bad()],
    ['a comment', push(`{/* state */${VALID_DOC.slice(1)}`), bad()],
    ['a trailing comma', push(`${VALID_DOC.slice(0, -1)},}`), bad()],
    ['Content-MD5 of other bytes', push(VALID_DOC, { headers: [...JSON_TYPE, ['Content-MD5', md5Base64(Buffer.from('other'))]] }), bad(/MD5/, 'content_md5_mismatch')],
    ['Content-MD5 not base64', push(VALID_DOC, { headers: [...JSON_TYPE, ['Content-MD5', 'not an md5']] }), bad(/MD5/, 'invalid_content_md5')],
    ['Content-MD5 as hex', push(VALID_DOC, { headers: [...JSON_TYPE, ['Content-MD5', createHash('md5').update(VALID_DOC).digest('hex')]] }), bad(/MD5/, 'invalid_content_md5')],
    ['Content-MD5 given twice', push(VALID_DOC, { headers: [...JSON_TYPE, ['Content-MD5', md5Base64(Buffer.from(VALID_DOC))], ['Content-MD5', md5Base64(Buffer.from(VALID_DOC))]] }), bad(/MD5/)],
    ['PUT with trailing garbage', push(`${VALID_DOC}]`, { method: 'PUT' }), bad()],
    ['PUT of an array', push('[]', { method: 'PUT' }), bad(/object/)],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `state body: ${kind}`, request, expect }));
};

const lockInfos = (): Case[] => {
  const deepInfo = `{"ID":"deep","Info":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
  const invalid = (says?: RegExp) => bad(says);
  return rotate(LOCK_ROUTES, [
    ['no body', '', invalid(/ID/)],
    ['an empty object', '{}', invalid(/ID/)],
    ['ID ""', '{"ID":""}', invalid(/ID/)],
    ['ID a number', '{"ID":7}', invalid(/ID/)],
    ['ID null', '{"ID":null}', invalid(/ID/)],
    ['ID an array', '{"ID":["a"]}', invalid(/ID/)],
    ['ID an object', '{"ID":{"$ne":null}}', invalid(/ID/)],
    ['ID true', '{"ID":true}', invalid(/ID/)],
    ['ID with a NUL', '{"ID":"a\\u0000b"}', invalid(/ID/)],
    ['ID with an unpaired high surrogate', '{"ID":"a\\ud800"}', invalid(/ID/)],
    ['ID with a lone low surrogate', '{"ID":"\\udc00a"}', invalid(/ID/)],
    ['Who with a NUL', lockJson({ Who: 'me\u0000' }), invalid(/Who/)],
    ['Operation a number', lockJson({ Operation: 1 }), invalid(/Operation/)],
    ['Info an object', lockJson({ Info: { a: 1 } }), invalid(/Info/)],
    ['Created an array', lockJson({ Created: ['2026'] }), invalid(/Created/)],
    ['Path with an unpaired surrogate', lockJson({ Path: 'p\ud800' }), invalid(/Path/)],
    ['not JSON', 'lock it please', invalid()],
    ['an array', '[{"ID":"x"}]', invalid()],
    ['a JSON string', '"intruder-lock"', invalid()],
    ['null', 'null', invalid()],
    ['truncated JSON', '{"ID":"intruder-lock"', invalid()],
    ['trailing garbage', '{"ID":"intruder-lock"} junk', invalid()],
    ['the ID key twice, the last one empty', '{"ID":"intruder-lock","ID":""}', invalid(/ID/)],
    ['a comment', '{"ID":"intruder-lock" /* hi */}', invalid()],
    ['NaN', '{"ID":"intruder-lock","Info":NaN}', invalid()],
    ['an invalid UTF-8 byte in ID', withBytes('{"ID":"intruder@@"}', [0xff]), invalid(/UTF-8/)],
    ['an overlong NUL (C0 80) in ID', withBytes('{"ID":"intruder@@"}', [0xc0, 0x80]), invalid(/UTF-8/)],
    ['a UTF-8-encoded surrogate in Who', withBytes('{"ID":"intruder-lock","Who":"@@"}', [0xed, 0xa0, 0x80]), invalid(/UTF-8/)],
    ['Latin-1 text in Who', withBytes('{"ID":"intruder-lock","Who":"Jos@@"}', [0xe9]), invalid(/UTF-8/)],
    ['UTF-16LE', Buffer.from(lockJson(), 'utf16le'), invalid()],
    ['Content-MD5 of other bytes', lockJson(), bad(/MD5/, 'content_md5_mismatch'), { headers: [...JSON_TYPE, ['Content-MD5', md5Base64(Buffer.from('other'))]] }],
    ['Content-MD5 as hex', lockJson(), bad(/MD5/, 'invalid_content_md5'), { headers: [...JSON_TYPE, ['Content-MD5', createHash('md5').update(lockJson()).digest('hex')]] }],
    ['a body over 64 KiB', lockJson({ Info: 'x'.repeat(70_000) }), { status: 413, error: 'too_large' }],
    ['Info nested 30,000 levels deep', deepInfo, invalid(/Info/)],
    ['ID nested 5,000 levels deep', `{"ID":${'['.repeat(5000)}${']'.repeat(5000)}}`, invalid(/ID/)],
  ]).map((c) => ({ ...c, kind: `lock info: ${c.kind}` }));
};

const unlocks = (): Case[] =>
  rotate(UNLOCK_ROUTES, [
    ['not JSON', 'unlock please', bad()],
    ['an array holding the ID', `["${H}"]`, bad()],
    ['null', 'null', bad()],
    ['a JSON string of the ID', `"${H}"`, bad()],
    ['ID a number', '{"ID":42}', bad(/ID/)],
    ['ID null', '{"ID":null}', bad(/ID/)],
    ['ID an array', `{"ID":["${H}"]}`, bad(/ID/)],
    ['ID an object', '{"ID":{"$ne":""}}', bad(/ID/)],
    ['ID with a NUL', `{"ID":"${H}\\u0000"}`, bad(/ID/)],
    ['ID with an unpaired surrogate', '{"ID":"\\ud800"}', bad(/ID/)],
    ['an invalid UTF-8 byte in ID', withBytes(`{"ID":"${H}@@"}`, [0xff]), bad(/UTF-8/)],
    ['an overlong NUL in ID', withBytes(`{"ID":"${H}@@"}`, [0xc0, 0x80]), bad(/UTF-8/)],
    ['truncated JSON', `{"ID":"${H}"`, bad()],
    ["the holder's LockInfo with a wrong Content-MD5", JSON.stringify(HOLDER), bad(/MD5/, 'content_md5_mismatch'), { headers: [...JSON_TYPE, ['Content-MD5', md5Base64(Buffer.from('other'))]] }],
    ["the holder's ID with a malformed Content-MD5", JSON.stringify({ ID: H }), bad(/MD5/, 'invalid_content_md5'), { headers: [...JSON_TYPE, ['Content-MD5', '====']] }],
    ["the holder's ID in a body over 64 KiB", JSON.stringify({ ID: H, Info: 'x'.repeat(70_000) }), { status: 413, error: 'too_large' }],
    ['another ID', JSON.stringify({ ID: 'not-the-holder' }), { status: 409, holder: true }],
  ]).map((c) => ({ ...c, kind: `unlock: ${c.kind}` }));

const rollbacks = (): Case[] => {
  const body = (fields: Record<string, string | undefined>) => docText(fields, { version: '1', reason: '"apply 7 broke DNS"' });
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['empty body', rollback(''), bad()],
    ['not JSON', rollback('roll back to 1'), bad()],
    ['an array', rollback('[1,"why"]'), bad()],
    ['null', rollback('null'), bad()],
    ['a number', rollback('1'), bad()],
    ['truncated JSON', rollback(ROLLBACK.slice(0, -1)), bad()],
    ['trailing garbage', rollback(`${ROLLBACK}}`), bad()],
    ['version as a string', rollback(body({ version: '"1"' })), bad(/version/)],
    ['version 0', rollback(body({ version: '0' })), bad(/version/)],
    ['version -1', rollback(body({ version: '-1' })), bad(/version/)],
    ['version 2^31', rollback(body({ version: '2147483648' })), bad(/version/)],
    ['version 1.5', rollback(body({ version: '1.5' })), bad(/version/)],
    ['version 1e400', rollback(body({ version: '1e400' })), bad(/version/)],
    ['version null', rollback(body({ version: 'null' })), bad(/version/)],
    ['version an array', rollback(body({ version: '[1]' })), bad(/version/)],
    ['version an object', rollback(body({ version: '{"$gt":0}' })), bad(/version/)],
    ['version missing', rollback(body({ version: undefined })), bad(/version/)],
    ['version nested 5,000 levels deep', rollback(body({ version: `${'['.repeat(5000)}${']'.repeat(5000)}` })), bad(/version/)],
    ['a version that does not exist', rollback(body({ version: '99' })), { status: 404, says: /99/ }],
    ['reason missing', rollback(body({ reason: undefined })), bad(/reason/)],
    ['reason empty', rollback(body({ reason: '""' })), bad(/reason/)],
    ['reason a number', rollback(body({ reason: '42' })), bad(/reason/)],
    ['reason an array', rollback(body({ reason: '["why"]' })), bad(/reason/)],
    ['reason with a NUL', rollback(body({ reason: '"why\\u0000"' })), bad(/reason/)],
    ['reason with an unpaired surrogate', rollback(body({ reason: '"why\\udfff"' })), bad(/reason/)],
    ['reason with an invalid UTF-8 byte', rollback(withBytes(body({ reason: '"why@@"' }), [0xfe])), bad(/UTF-8/)],
    ['force as a string', rollback(body({ force: '"true"' })), bad(/force/)],
    ['force 1', rollback(body({ force: '1' })), bad(/force/)],
    ['force null', rollback(body({ force: 'null' })), bad(/force/)],
    ['a body over 64 KiB', rollback(body({ reason: JSON.stringify('x'.repeat(70_000)) })), { status: 413, error: 'too_large' }],
    ['reason nested 30,000 levels deep', rollback(body({ reason: `${'['.repeat(30_000)}${']'.repeat(30_000)}` })), bad(/reason/)],
    ['Content-MD5 of other bytes', rollback(ROLLBACK, { headers: [...JSON_TYPE, ['Content-MD5', md5Base64(Buffer.from('other'))]] }), bad(/MD5/)],
    ['no lock ID while the state is locked', rollback(ROLLBACK, { path: `/states/${VICTIM}/rollback` }), HELD],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `rollback: ${kind}`, request, expect }));
};

const releases = (): Case[] => {
  const release = (body: string | Buffer, extra: Partial<HostileRequest> = {}): HostileRequest => ({ method: 'DELETE', path: `/states/${VICTIM}/lock`, headers: JSON_TYPE, body, ...extra });
  const body = (fields: Record<string, string | undefined>) => docText(fields, { reason: '"CI job cancelled"', ID: '"someone-else"' });
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['no body', release(''), bad(/reason/)],
    ['not JSON', release('release it'), bad()],
    ['an array', release('["why"]'), bad()],
    ['null', release('null'), bad()],
    ['truncated JSON', release('{"reason": "x"'), bad()],
    ['reason missing', release(body({ reason: undefined })), bad(/reason/)],
    ['reason empty', release(body({ reason: '""' })), bad(/reason/)],
    ['reason a number', release(body({ reason: '42' })), bad(/reason/)],
    ['reason an object', release(body({ reason: '{"$ne":null}' })), bad(/reason/)],
    ['reason with a NUL', release(body({ reason: '"why\\u0000"' })), bad(/reason/)],
    ['reason nested 30,000 levels deep', release(body({ reason: `${'['.repeat(30_000)}${']'.repeat(30_000)}` })), bad(/reason/)],
    ['reason with an invalid UTF-8 byte', release(withBytes(body({ reason: '"why@@"' }), [0xfe])), bad(/UTF-8/)],
    ['ID empty', release(body({ ID: '""' })), bad(/ID/)],
    ['ID a number', release(body({ ID: '7' })), bad(/ID/)],
    ['a body over 64 KiB', release(body({ reason: JSON.stringify('x'.repeat(70_000)) })), { status: 413, error: 'too_large' }],
    ['the ID of a lock other than the one held', release(body({})), { status: 409, holder: true }],
    ['on a bad name', release(body({}), { path: '/states/.x/lock' }), bad(/name/, 'invalid_name')],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `release: ${kind}`, request, expect }));
};

const lockIds = (): Case[] => {
  const invalid = bad(/ID|query/);
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['?ID= empty on a push', push(VALID_DOC, { path: `/states/${VICTIM}?ID=` }), bad(/ID/, 'invalid_lock_id')],
    ['?ID=%FF on a push', push(VALID_DOC, { path: `/states/${VICTIM}?ID=%FF` }), invalid],
    ['?ID=%C0%80 (overlong NUL) on a PUT', push(VALID_DOC, { method: 'PUT', path: `/states/${VICTIM}?ID=%C0%80` }), invalid],
    ['?ID=%ED%A0%80 (encoded surrogate) on a DELETE', { method: 'DELETE', path: `/states/${VICTIM}?ID=%ED%A0%80` }, invalid],
    ["the holder's ID twice on a push", push(VALID_DOC, { path: `/states/${VICTIM}?ID=${H}&ID=${H}` }), bad(/ID/, 'invalid_lock_id')],
    ["the holder's ID twice on a DELETE", { method: 'DELETE', path: `/states/${VICTIM}?ID=${H}&ID=${H}` }, bad(/ID/, 'invalid_lock_id')],
    ["the holder's ID twice on a rollback", rollback(ROLLBACK, { path: `/states/${VICTIM}/rollback?ID=${H}&ID=${H}` }), bad(/ID/, 'invalid_lock_id')],
    ['?ID=%00 on a DELETE', { method: 'DELETE', path: `/states/${VICTIM}?ID=%00` }, bad(/ID/, 'invalid_lock_id')],
    ["the holder's ID and a NUL on a push", push(VALID_DOC, { path: `/states/${VICTIM}?ID=${H}%00` }), bad(/ID/, 'invalid_lock_id')],
    ['?ID=%FE%FF on a rollback', rollback(ROLLBACK, { path: `/states/${VICTIM}/rollback?ID=%FE%FF` }), invalid],
    ['?ID=%G0 (not a percent escape)', push(VALID_DOC, { path: `/states/${VICTIM}?ID=%G0` }), invalid],
    ['?ID= ending in a lone %', { method: 'DELETE', path: `/states/${VICTIM}?ID=${H}%` }, invalid],
    ['raw byte 0xFF after the ID in the query', push(VALID_DOC, { path: `/states/${VICTIM}?ID=${H}\xff` }), bad()],
    ['raw UTF-8 (not percent-encoded) in the query', { method: 'DELETE', path: `/states/${VICTIM}?ID=${H}\xc3\xa9` }, bad()],
    ['a push with another ID', push(VALID_DOC, { path: `/states/${VICTIM}?ID=not-the-holder` }), HELD],
    ['a DELETE without an ID', { method: 'DELETE', path: `/states/${VICTIM}` }, HELD],
    ['an ID on an unlocked state', push(VALID_DOC, { path: `/states/${OPEN}?ID=stale-lock` }), { status: 409, error: 'lock_lost' }],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `lock ID: ${kind}`, request, expect }));
};

const names = (): Case[] => {
  const invalidName = bad(/name/, 'invalid_name');
  const long = 'a'.repeat(129);
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['a leading dot', get('/states/.hidden'), invalidName],
    ['a leading dash', get('/states/-dash'), invalidName],
    ['a leading underscore', { method: 'DELETE', path: '/states/_under' }, invalidName],
    ['129 characters, on a push', { method: 'POST', path: `/states/${long}`, headers: JSON_TYPE, body: VALID_DOC }, invalidName],
    ['10,000 characters, on a lock', { method: 'LOCK', path: `/states/${'b'.repeat(10_000)}`, headers: JSON_TYPE, body: lockJson() }, invalidName],
    ['an encoded slash before a bad segment', get('/states/a%2F.b'), invalidName],
    ['a nested name with an empty segment', { method: 'LOCK', path: '/states/team//app', headers: JSON_TYPE, body: lockJson() }, invalidName],
    ['a nested name ending in two slashes, on a push (one is allowed)', { method: 'POST', path: '/states/team/app//', headers: JSON_TYPE, body: VALID_DOC }, invalidName],
    ['a sub-resource word as a segment, on a push', { method: 'POST', path: '/states/team/versions/app', headers: JSON_TYPE, body: VALID_DOC }, bad(/versions.*segment/, 'invalid_name')],
    ['a sub-resource word as a segment, on a lock', { method: 'POST', path: '/states/team/outputs/lock', headers: JSON_TYPE, body: lockJson() }, bad(/outputs.*segment/, 'invalid_name')],
    ['an encoded sub-resource word as a segment, on a LOCK', { method: 'LOCK', path: '/states/team%2Fdiff', headers: JSON_TYPE, body: lockJson() }, bad(/diff.*segment/, 'invalid_name')],
    ['a nested name of 513 characters, on a push', { method: 'POST', path: `/states/${'a'.repeat(128)}/${'b'.repeat(128)}/${'c'.repeat(128)}/${'d'.repeat(126)}`, headers: JSON_TYPE, body: VALID_DOC }, bad(/512/, 'invalid_name')],
    ['a nested segment of 129 characters, on a lock', { method: 'LOCK', path: `/states/team/${long}`, headers: JSON_TYPE, body: lockJson() }, invalidName],
    ['an encoded ../ on a DELETE', { method: 'DELETE', path: '/states/..%2Fvictim' }, invalidName],
    ['%2e%2e', get('/states/%2e%2e'), invalidName],
    ['a backslash', get('/states/a%5Cb'), invalidName],
    ['a trailing NUL', get(`/states/${VICTIM}%00`), invalidName],
    ['only a NUL, on a lock', { method: 'LOCK', path: '/states/%00', headers: JSON_TYPE, body: lockJson() }, invalidName],
    ['a trailing space', get(`/states/${VICTIM}%20`), invalidName],
    ['a tab', { method: 'UNLOCK', path: '/states/vic%09tim' }, invalidName],
    ['unicode (é)', get('/states/%C3%A9tat'), invalidName],
    ['a fullwidth letter', { method: 'POST', path: '/states/%EF%BC%A1', headers: JSON_TYPE, body: VALID_DOC }, invalidName],
    ['invalid percent-encoded UTF-8 (%FF), on a push', { method: 'POST', path: '/states/%FF', headers: JSON_TYPE, body: VALID_DOC }, bad()],
    ['an overlong percent-encoded slash', get('/states/%C0%AFetc'), bad()],
    ['an encoded surrogate, on a rollback', { method: 'POST', path: '/states/%ED%A0%80/rollback', headers: JSON_TYPE, body: ROLLBACK }, bad()],
    ['an encoded slash before versions', get(`/states/${VICTIM}%2Fversions`), invalidName],
    ['a bad name on the events route', get('/states/.x/events'), invalidName],
    ['a bad name on the diff route', get('/states/-x/diff'), invalidName],
    ['a bad name on the lock route', get('/states/%C3%A9/lock'), invalidName],
    ['version 0', get(`/states/${VICTIM}/versions/0`), bad(/version/, 'invalid_version')],
    ['version -1', get(`/states/${VICTIM}/versions/-1`), bad(/version/, 'invalid_version')],
    ['version abc', get(`/states/${VICTIM}/versions/abc`), bad(/version/, 'invalid_version')],
    ['version 01', get(`/states/${VICTIM}/versions/01`), bad(/version/, 'invalid_version')],
    ['version 1.0', get(`/states/${VICTIM}/versions/1.0`), bad(/version/, 'invalid_version')],
    ['version 1e1', get(`/states/${VICTIM}/versions/1e1`), bad(/version/, 'invalid_version')],
    ['version 2^31', get(`/states/${VICTIM}/versions/2147483648`), bad(/version/, 'invalid_version')],
    ['a version that does not exist', get(`/states/${VICTIM}/versions/99`), { status: 404, error: 'not_found', says: /99/ }],
    ['versions of an unknown state', get('/states/nowhere/versions'), { status: 404, error: 'not_found' }],
    ['events of an unknown state', get('/states/nowhere/events'), { status: 404, error: 'not_found' }],
    ['diff of an unknown state', get('/states/nowhere/diff'), { status: 404, error: 'not_found' }],
    ['rollback of an unknown state', { method: 'POST', path: '/states/nowhere/rollback', headers: JSON_TYPE, body: ROLLBACK }, { status: 404, error: 'not_found' }],
    ['the lock of an unlocked state', get(`/states/${OPEN}/lock`), { status: 404, error: 'not_found' }],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `name: ${kind}`, request, expect }));
};

const queries = (): Case[] => {
  const invalid = (says: RegExp): Expect => ({ status: 400, error: 'invalid_query', says });
  const versions = (query: string) => get(`/states/${VICTIM}/versions?${query}`);
  const events = (query: string) => get(`/events?${query}`);
  const at = /\bat\b/;
  const badTimes: Array<[string, string]> = [
    ['February 30', '2026-02-30T00:00:00Z'],
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
    ['no offset', '2026-01-01T00:00:00'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['minute 60', '2026-01-01T00:60:00Z'],
    ['second 60', '2026-01-01T00:00:60Z'],
    ['February 29 of a common year', '2025-02-29T00:00:00Z'],
    ['offset +24:00', '2026-01-01T00:00:00%2B24:00'],
    ['offset +01:60', '2026-01-01T00:00:00%2B01:60'],
    ['offset without a colon', '2026-01-01T00:00:00%2B0100'],
    ['a date only', '2026-01-01'],
    ['"now"', 'now'],
    ['Unix seconds', '1767225600'],
    ['one-digit month and day', '2026-1-1T00:00:00Z'],
    ['ten fraction digits', '2026-01-01T00:00:00.1234567890Z'],
    ['an expanded year', '%2B002026-01-01T00:00:00Z'],
    ['an empty value', ''],
    ['a truncated percent-encoded character', '2026-01-01T00:00:00Z%E2%82'],
  ];
  const atRoutes = [`/states/${VICTIM}/versions`, `/states/${VICTIM}`, `/states/${VICTIM}/lock`];
  const cases: Array<[string, HostileRequest, Expect]> = [
    ...badTimes.map(([kind, time], i): [string, HostileRequest, Expect] => {
      const route = atRoutes[i % atRoutes.length]!;
      return [`at ${kind} (${route.replace(`/states/${VICTIM}`, '') || 'state'})`, get(`${route}?at=${time}`), invalid(/at|query/)];
    }),
    ['at given twice', versions('at=2026-01-01T00:00:00Z&at=2026-01-02T00:00:00Z'), invalid(at)],
    ['locks format=xml', get('/locks?format=xml'), invalid(/format/)],
    ['locks format given twice', get('/locks?format=table&format=json'), invalid(/format/)],
    ['states prefix with a space', get('/states?prefix=team%20a'), invalid(/prefix/)],
    ['states prefix given twice', get('/states?prefix=a&prefix=b'), invalid(/prefix/)],
    ['states prefix of 513 characters', get(`/states?prefix=${'a'.repeat(513)}`), invalid(/prefix/)],
    ['limit=0', versions('limit=0'), invalid(/limit/)],
    ['limit=-1', versions('limit=-1'), invalid(/limit/)],
    ['limit=abc', versions('limit=abc'), invalid(/limit/)],
    ['limit=99999999999', versions('limit=99999999999'), invalid(/limit/)],
    ['limit=1.5', versions('limit=1.5'), invalid(/limit/)],
    ['limit=+5', versions('limit=%2B5'), invalid(/limit/)],
    ['limit=0x10', versions('limit=0x10'), invalid(/limit/)],
    ['limit empty', versions('limit='), invalid(/limit/)],
    ['limit given twice', versions('limit=1&limit=2'), invalid(/limit/)],
    ['limit=%FF', versions('limit=%FF'), invalid(/query/)],
    ['a query key %FF', versions('%FF=1'), invalid(/query/)],
    ['before=abc', versions('before=abc'), invalid(/before/)],
    ['before=0', versions('before=0'), invalid(/before/)],
    ['before=-1', versions('before=-1'), invalid(/before/)],
    ['format=xml', versions('format=xml'), invalid(/format/)],
    ['format=JSON', versions('format=JSON'), invalid(/format/)],
    ['format given twice', versions('format=json&format=json'), invalid(/format/)],
    ['events after=-1', events('after=-1'), invalid(/after/)],
    ['events after=abc', events('after=abc'), invalid(/after/)],
    ['events after=1.5', events('after=1.5'), invalid(/after/)],
    ['events after=10^20', events('after=100000000000000000000'), invalid(/after/)],
    ['events after given twice', events('after=0&after=1'), invalid(/after/)],
    ['events wait=61', events('wait=61'), invalid(/wait/)],
    ['events wait=-1', events('wait=-1'), invalid(/wait/)],
    ['events wait=abc', events('wait=abc'), invalid(/wait/)],
    ['events wait=0.5', events('wait=0.5'), invalid(/wait/)],
    ['events wait=3600', events('wait=3600'), invalid(/wait/)],
    ['events limit=0', events('limit=0'), invalid(/limit/)],
    ['events format=xml', events('format=xml'), invalid(/format/)],
    ['state events limit=abc', get(`/states/${VICTIM}/events?limit=abc`), invalid(/limit/)],
    ['state events after=-1', get(`/states/${VICTIM}/events?after=-1`), invalid(/after/)],
    ['state events before=0', get(`/states/${VICTIM}/events?before=0`), invalid(/before/)],
    ['state events before=abc', get(`/states/${VICTIM}/events?before=abc`), invalid(/before/)],
    ['state events before given twice', get(`/states/${VICTIM}/events?before=2&before=3`), invalid(/before/)],
    ['state events order=sideways', get(`/states/${VICTIM}/events?order=sideways`), invalid(/order/)],
    ['state events after and before', get(`/states/${VICTIM}/events?after=1&before=5`), invalid(/give one of them/)],
    ['state events order=newest with after', get(`/states/${VICTIM}/events?order=newest&after=1`), invalid(/give one of them/)],
    ['state events order=oldest with before', get(`/states/${VICTIM}/events?order=oldest&before=3`), invalid(/give one of them/)],
    ['diff from=abc', get(`/states/${VICTIM}/diff?from=abc`), invalid(/from/)],
    ['diff to=0', get(`/states/${VICTIM}/diff?to=0`), invalid(/to/)],
    ['diff to=3000000000', get(`/states/${VICTIM}/diff?to=3000000000`), invalid(/to/)],
    ['diff format=html', get(`/states/${VICTIM}/diff?format=html`), invalid(/format/)],
    ['diff from a version that does not exist', get(`/states/${VICTIM}/diff?from=99`), { status: 404, error: 'not_found', says: /99/ }],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `query: ${kind}`, request, expect }));
};

const methods = (): Case[] => {
  const notFound: Expect = { status: [404, 405], says: /PATCH|PROPFIND|TRACE|MKCOL|COPY|MOVE|PURGE|SEARCH|GET|POST|PUT|DELETE|LOCK|UNLOCK|route|method/ };
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['PATCH on a state', { method: 'PATCH', path: `/states/${VICTIM}`, headers: JSON_TYPE, body: VALID_DOC }, notFound],
    ['PROPFIND on a state', { method: 'PROPFIND', path: `/states/${VICTIM}` }, notFound],
    ['TRACE on a state', { method: 'TRACE', path: `/states/${VICTIM}` }, notFound],
    ['MKCOL on a new state', { method: 'MKCOL', path: '/states/newcol' }, notFound],
    ['COPY a state', { method: 'COPY', path: `/states/${VICTIM}`, headers: [['Destination', '/states/copy']] }, notFound],
    ['MOVE a state', { method: 'MOVE', path: `/states/${VICTIM}`, headers: [['Destination', '/states/moved']] }, notFound],
    ['PURGE a state', { method: 'PURGE', path: `/states/${VICTIM}` }, notFound],
    ['SEARCH the states', { method: 'SEARCH', path: '/states' }, notFound],
    ['a method that is no HTTP method', { method: 'FROBNICATE', path: `/states/${VICTIM}` }, { status: [400, 405], error: 'bad_request' }],
    ['a lower-case method', { method: 'delete', path: `/states/${VICTIM}?ID=${H}` }, { status: [400, 405], error: 'bad_request' }],
    ['CONNECT', { method: 'CONNECT', path: `127.0.0.1:1` }, { status: [400, 404, 405] }],
    ['GET /', get('/'), notFound],
    ['an unknown path', get('/nope'), notFound],
    ['POST /states', { method: 'POST', path: '/states', headers: JSON_TYPE, body: VALID_DOC }, notFound],
    ['DELETE /states', { method: 'DELETE', path: '/states' }, notFound],
    ['LOCK /states', { method: 'LOCK', path: '/states', headers: JSON_TYPE, body: lockJson() }, notFound],
    // A write to a sub-resource that takes none reads as a nested name holding a reserved word.
    ['DELETE a version', { method: 'DELETE', path: `/states/${VICTIM}/versions/1` }, bad(/versions/, 'invalid_name')],
    ['PUT a version', { method: 'PUT', path: `/states/${VICTIM}/versions/1`, headers: JSON_TYPE, body: VALID_DOC }, bad(/versions/, 'invalid_name')],
    ['POST the versions', { method: 'POST', path: `/states/${VICTIM}/versions`, headers: JSON_TYPE, body: VALID_DOC }, bad(/versions/, 'invalid_name')],
    ['PUT /lock', { method: 'PUT', path: `/states/${OPEN}/lock`, headers: JSON_TYPE, body: lockJson() }, notFound],
    ['GET /unlock', get(`/states/${VICTIM}/unlock`), notFound],
    ['GET /rollback', get(`/states/${VICTIM}/rollback`), notFound],
    ['POST /events', { method: 'POST', path: '/events', headers: JSON_TYPE, body: '{}' }, notFound],
    ['a path with ../ segments', get(`/states/${VICTIM}/../../etc/passwd`), bad(/name/, 'invalid_name')],
    ['one segment too many', get(`/states/${VICTIM}/versions/1/raw`), notFound],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `method/route: ${kind}`, request, expect }));
};

const framing = (ctx: Ctx): Case[] => {
  const malformed: Expect = { status: 400, error: 'bad_request' };
  const head = (lines: string[], body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;
  const auth = `Authorization: ${ALICE}`;
  const hostLine = `Host: ${ctx.host}`;
  const chunked = (body: string | Buffer) => {
    const bytes = Buffer.from(body);
    return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')]);
  };
  const cases: Array<[string, HostileRequest, Expect, number?]> = [
    ['a garbage request line', { raw: 'HELLO\r\n\r\n' }, malformed],
    ['a request line without a version', { raw: head([`GET /states/${VICTIM}`, hostLine, auth]) }, { status: 400, error: 'unsupported_http_version' }],
    ['HTTP/2.0 in an HTTP/1 request line', { raw: head([`GET /states/${VICTIM} HTTP/2.0`, hostLine, auth]) }, { status: 400, error: 'unsupported_http_version' }],
    ['HTTP/1.7', { raw: head([`GET /states/${VICTIM} HTTP/1.7`, hostLine, auth]) }, malformed],
    ['a space inside the request target', { raw: head([`GET /states/vic tim HTTP/1.1`, hostLine, auth]) }, malformed],
    ['a raw NUL in the request target', { raw: head([`GET /states/vic\x00tim HTTP/1.1`, hostLine, auth]) }, malformed],
    ['a raw 0xFF byte in the path', get(`/states/vic\xfftim`), bad()],
    ['raw UTF-8 (not percent-encoded) in the path', { method: 'POST', path: `/states/\xc3\xa9tat`, headers: JSON_TYPE, body: VALID_DOC }, bad()],
    ['a header name with a space', get(`/states/${VICTIM}`, { headers: [['Bad Header', 'x']] }), malformed],
    ['a header line without a colon', { raw: head([`GET /states/${VICTIM} HTTP/1.1`, hostLine, auth, 'NoColonHere']) }, malformed],
    ['a NUL in a header value', get(`/states/${VICTIM}`, { headers: [['X-Note', 'a\x00b']] }), malformed],
    ['a bare CR in a header value', get(`/states/${VICTIM}`, { headers: [['X-Note', 'a\rb']] }), malformed],
    ['an obs-fold continuation line', { raw: head([`GET /states/${VICTIM} HTTP/1.1`, hostLine, auth, 'X-Note: a', ' folded']) }, malformed],
    ['one 20 KB header', get(`/states/${VICTIM}`, { headers: [['X-Big', 'x'.repeat(20_000)]] }), { status: 431, error: 'headers_too_large' }],
    ['a 20 KB request target', get(`/states/${'a'.repeat(20_000)}`), { status: [414, 431] }],
    ['600 headers of 40 bytes', get(`/states/${VICTIM}`, { headers: Array.from({ length: 600 }, (_, i) => [`X-H${i}`, 'y'.repeat(32)] as const) }), { status: 431, error: 'headers_too_large' }],
    ['Content-Length and Transfer-Encoding together', push(chunked(VALID_DOC), { headers: [...JSON_TYPE, ['Transfer-Encoding', 'chunked']], contentLength: String(chunked(VALID_DOC).length) }), malformed],
    ['two different Content-Lengths', push(VALID_DOC, { headers: [...JSON_TYPE, ['Content-Length', '5']] }), malformed],
    ['Content-Length -1', push(VALID_DOC, { contentLength: '-1' }), malformed],
    ['Content-Length abc', push(VALID_DOC, { contentLength: 'abc' }), malformed],
    ['Content-Length 1e3', push(VALID_DOC, { contentLength: '1e3' }), malformed],
    ['Content-Length past 2^64', push(VALID_DOC, { contentLength: '99999999999999999999999' }), malformed],
    ['a chunk size that is not hex', push(`zz\r\n${VALID_DOC}\r\n0\r\n\r\n`, { headers: [...JSON_TYPE, ['Transfer-Encoding', 'chunked']], contentLength: null }), malformed],
    ['a chunk longer than its size', push(`5\r\n${VALID_DOC}\r\n0\r\n\r\n`, { headers: [...JSON_TYPE, ['Transfer-Encoding', 'chunked']], contentLength: null }), malformed],
    ['Transfer-Encoding: gzip, chunked', push(chunked(gzipSync(VALID_DOC)), { headers: [...JSON_TYPE, ['Transfer-Encoding', 'gzip, chunked']], contentLength: null }), { status: [400, 415] }],
    ['Transfer-Encoding: identity', push(VALID_DOC, { headers: [...JSON_TYPE, ['Transfer-Encoding', 'identity']], contentLength: null }), { status: [400, 411] }],
    ['no Host header', push(VALID_DOC, { host: null }), { status: 400, error: 'missing_host' }],
    ['an Expect this server does not know', push(VALID_DOC, { headers: [...JSON_TYPE, ['Expect', 'the-unexpected']] }), { status: 417 }],
    ['a body cut short, the client gone', push(VALID_DOC, { abortAfter: 40 }), { noReply: true }],
    ['a lock body that stalls', { method: 'LOCK', path: `/states/${OPEN}`, headers: JSON_TYPE, body: lockJson(), stallAfter: 10 }, { status: 408, error: 'request_timeout' }, 8000],
    ['a state body that stalls', push(VALID_DOC, { stallAfter: 10 }), { status: 408, error: 'body_stalled' }, 8000],
    ['headers that never end', { raw: `GET /states/${VICTIM} HTTP/1.1\r\n${hostLine}\r\nX-Slow: ` }, { status: 408, error: 'request_timeout' }, 8000],
  ];
  return cases.map(([kind, request, expect, waitMs]) => ({ kind: `framing: ${kind}`, request, expect, ...(waitMs === undefined ? {} : { waitMs }) }));
};

// ---------------------------------------------------------------------------------------------
// Checks

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Everything a bad request must leave alone, read through the API and from the events table. */
const snapshot = async (server: TestServer) => {
  const read = async (path: string) => {
    const reply = await server.request(path);
    const body = Buffer.from(await reply.arrayBuffer());
    return { status: reply.status, sha256: sha256(body), version: reply.headers.get('x-state-version') };
  };
  const readJson = async (path: string) => {
    const reply = await server.request(path);
    return { status: reply.status, json: (await reply.json()) as unknown };
  };
  const states: Record<string, unknown> = {};
  for (const name of [VICTIM, OPEN]) {
    states[name] = {
      body: await read(`/states/${name}`),
      versions: await readJson(`/states/${name}/versions?limit=1000`),
      lock: await readJson(`/states/${name}/lock`),
    };
  }
  const { rows } = await server.db.pool.query<{ events: string; streams: string }>(
    'SELECT (SELECT count(*) FROM events)::text AS events, (SELECT count(*) FROM streams)::text AS streams',
  );
  const locks = await readJson('/locks');
  // How long a lock has been held moves with the clock, not with requests.
  const held = (locks.json as { locks: Array<Record<string, unknown>> }).locks.map(({ age_seconds: _, ...lock }) => lock);
  return { list: await readJson('/states'), locks: { status: locks.status, held }, states, counts: rows[0] };
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A clear JSON error: {error, message} and nothing else, a one-line sentence, no dump or stack. */
const checkJsonError = (t: Test, reply: RawReply, expect: { status: number | readonly number[]; error?: string; says?: RegExp }) => {
  const statuses = typeof expect.status === 'number' ? [expect.status] : expect.status;
  if (statuses.length === 1) t.equal(reply.status, statuses[0], 'status');
  else t.ok(statuses.includes(reply.status), `status ${reply.status} is one of ${statuses.join(', ')}`);
  t.ok(reply.status >= 400 && reply.status < 500, `a 4xx, not ${reply.status}`);
  t.match(reply.headers['content-type'] ?? '(none)', /^application\/json(;|$)/, 'Content-Type: application/json');
  t.equal(reply.headers['x-content-type-options'], 'nosniff', 'X-Content-Type-Options: nosniff');
  const body = reply.json;
  t.strictSame(isRecord(body) ? Object.keys(body).sort() : body === undefined ? reply.body.toString('latin1').slice(0, 200) : body, ['error', 'message'], 'the body is {error, message}');
  if (!isRecord(body)) return;
  t.match(body.error, /^[a-z][a-z0-9_]*$/, 'error is a code');
  if (expect.error !== undefined) t.equal(body.error, expect.error, 'error code');
  const message = typeof body.message === 'string' ? body.message : '';
  t.ok(message.length >= 10 && message.length <= 500 && !message.includes('\n'), `message is one sentence: ${JSON.stringify(message)}`);
  t.notMatch(message, DUMP, 'message is no codec or parser dump');
  t.notMatch(message, STACK, 'message has no stack trace');
  if (expect.says !== undefined) t.match(message, expect.says, 'message names the field');
  if (reply.status === 401) t.equal(reply.headers['www-authenticate'], 'Basic realm="state-ledger", charset="UTF-8"', 'a Basic challenge');
};

const checkReply = (t: Test, reply: RawReply, expect: Expect) => {
  if ('noReply' in expect) return void t.ok(reply.status === 0 || (reply.status >= 400 && reply.status < 500), `no answer or a 4xx (got ${reply.status})`);
  if ('holder' in expect) {
    t.equal(reply.status, expect.status, 'status');
    t.match(reply.headers['content-type'] ?? '(none)', /^application\/json(;|$)/, 'Content-Type: application/json');
    t.equal(reply.headers['x-content-type-options'], 'nosniff', 'X-Content-Type-Options: nosniff');
    return void t.strictSame(reply.json, HOLDER, "the body is the holder's LockInfo");
  }
  checkJsonError(t, reply, expect);
};

const stillServing = async (t: Test, server: TestServer) => {
  const live = await fetch(`${server.baseUrl}/livez`);
  t.equal(live.status, 200, '/livez answers');
  t.strictSame(await live.json(), { status: 'ok' });
  const states = await server.request('/states');
  t.equal(states.status, 200, 'an authenticated read still works');
};

/** One subtest per case: the answer, then nothing changed since the previous case. */
const runGroup = (t: Test, ctx: Ctx, group: string, cases: readonly Case[]) =>
  runHostileCases(t, group, ctx.server.baseUrl, cases, {
    snapshot: () => snapshot(ctx.server),
    check: (t, reply, c) => checkReply(t, reply, c.expect),
    unchanged: 'state bytes, versions, locks, states, event count',
    stillServing: (t) => stillServing(t, ctx.server),
  });

// ---------------------------------------------------------------------------------------------

t.test('hostile input on every route', async (t) => {
  const server = await startServer(t, {
    // Failed logins are hostile input here, not the subject: the lockout has its own test below.
    traffic: { loginFailuresPerMinute: 1_000_000, bodyIdleTimeoutMs: 1500, requestTimeoutMs: 1500, headersTimeoutMs: 2000 },
  });
  const { host } = new URL(server.baseUrl);
  const ctx: Ctx = { server, host, origin: `http://${host}` };

  // victim: two versions, locked by HOLDER. open: two versions, no lock.
  for (const [name, serials] of [[VICTIM, [1, 2]], [OPEN, [1, 2]]] as const) {
    for (const serial of serials) {
      t.equal((await server.request(`/states/${name}`, { method: 'POST', body: stateDocument(serial, LINEAGE).toString() })).status, 200, `fixture: ${name} serial ${serial}`);
    }
  }
  t.equal((await server.request(`/states/${VICTIM}/lock`, { method: 'POST', body: JSON.stringify(HOLDER) })).status, 200, `fixture: ${VICTIM} locked`);

  const groups: Array<[string, Case[]]> = [
    ['authentication', auth()],
    ['foreign origins on state-changing requests', origins(ctx)],
    ['Content-Encoding', encodings()],
    ['state bodies (POST/PUT /states/NAME)', stateBodies()],
    ['lock infos (LOCK, POST /lock, LOCK /lock)', lockInfos()],
    ['unlock bodies (UNLOCK, POST /unlock, UNLOCK /unlock)', unlocks()],
    ['rollback bodies', rollbacks()],
    ['lock releases (DELETE /states/NAME/lock)', releases()],
    ['lock IDs in the query', lockIds()],
    ['state names and version numbers', names()],
    ['query values', queries()],
    ['methods and routes', methods()],
    ['framing and headers (raw sockets)', framing(ctx)],
  ];
  const kinds = groups.flatMap(([, cases]) => cases.map((c) => c.kind));

  t.test('the checks can fail: a good request through the same path changes the snapshot', async (t) => {
    const before = await snapshot(server);
    const reply = await sendRaw(server.baseUrl, push(VALID_DOC));
    t.equal(reply.status, 200, 'the valid document the body cases are built from is accepted');
    t.notSame(await snapshot(server), before, 'a stored version shows in the snapshot');
    // The lock, a valid lock info and a valid rollback body, on scratch states.
    t.equal((await sendRaw(server.baseUrl, { method: 'LOCK', path: '/states/scratch', headers: JSON_TYPE, body: lockJson() })).status, 200);
    t.equal((await sendRaw(server.baseUrl, { method: 'UNLOCK', path: '/states/scratch', headers: JSON_TYPE, body: lockJson() })).status, 200);
    t.equal((await sendRaw(server.baseUrl, rollback(ROLLBACK))).status, 200, 'the valid rollback body is accepted');
    t.equal((await sendRaw(server.baseUrl, push(encText(), { path: '/states/scratch-enc' }))).status, 200, 'the valid encrypted document is accepted');
    // The canonical credentials in every accepted spelling of the scheme (RFC 7617: case-insensitive).
    for (const scheme of ['Basic', 'basic', 'BASIC']) {
      t.equal((await sendRaw(server.baseUrl, get('/states', { auth: ALICE.replace('Basic', scheme) }))).status, 200, `${scheme} scheme`);
    }
    t.equal((await sendRaw(server.baseUrl, get('/states', { auth: basicAuth('bob', 'hunter2') }))).status, 200, 'bob');
    // A foreign Origin does not stop reads; the server's own Origin may write.
    const read = await sendRaw(server.baseUrl, get(`/states/${VICTIM}`, { headers: [['Origin', 'https://evil.example']] }));
    t.equal(read.status, 200, 'GET with a foreign Origin');
    t.equal((await sendRaw(server.baseUrl, { method: 'LOCK', path: '/states/scratch-origin', headers: [...JSON_TYPE, ['Origin', ctx.origin]], body: lockJson() })).status, 200, 'own Origin');
    t.equal((await sendRaw(server.baseUrl, { method: 'LOCK', path: '/states/scratch-identity', headers: [...JSON_TYPE, ['Content-Encoding', 'identity']], body: lockJson() })).status, 200, 'Content-Encoding: identity');
    t.equal((await sendRaw(server.baseUrl, get(`/states/${VICTIM}/versions?at=2026-01-01T00:00:00%2B01:00&limit=1000&format=json`))).status, 200, 'good query values');
    t.equal((await sendRaw(server.baseUrl, get(`/states/${'a'.repeat(128)}`))).status, 404, 'a 128-character name is a name');
  });

  for (const [group, cases] of groups) await runGroup(t, ctx, group, cases);

  t.test('answers carry nosniff, and state bytes and histories are never cached', async (t) => {
    const paths = [`/states/${VICTIM}`, `/states/${VICTIM}/versions`, `/states/${VICTIM}/versions/1`, `/states/${VICTIM}?at=2099-01-01T00:00:00Z`, `/states/${VICTIM}/lock`, `/states/${VICTIM}/events`, `/states/${VICTIM}/diff`, '/events', '/states'];
    for (const path of paths) {
      const reply = await sendRaw(server.baseUrl, get(path));
      t.equal(reply.status, 200, path);
      t.equal(reply.headers['x-content-type-options'], 'nosniff', `${path}: nosniff`);
      t.match(reply.headers['cache-control'] ?? '', /\bno-store\b/, `${path}: Cache-Control: no-store`);
    }
    for (const request of [get('/states/nowhere/versions'), get('/states', { auth: null }), get('/nope')]) {
      const reply = await sendRaw(server.baseUrl, request);
      t.equal(reply.headers['x-content-type-options'], 'nosniff', `${request.path}: nosniff on an error`);
    }
  });

  t.test('OPTIONS is never answered with HTML or a 5xx', async (t) => {
    for (const path of [`/states/${VICTIM}`, '/states', '/nope']) {
      const reply = await sendRaw(server.baseUrl, { method: 'OPTIONS', path });
      t.ok(reply.status > 0 && reply.status < 500, `${path}: ${reply.status}`);
      t.notMatch(reply.headers['content-type'] ?? '', /html/, `${path}: not HTML`);
      if (reply.status >= 400) checkJsonError(t, reply, { status: reply.status });
    }
  });

  t.test(`at least 80 distinct kinds of bad input (${kinds.length})`, async (t) => {
    t.ok(kinds.length >= 80, `${kinds.length} kinds`);
    t.strictSame(kinds.filter((kind, i) => kinds.indexOf(kind) !== i), [], 'every kind is distinct');
  });
});

t.test('failed logins: one address is refused after 10 a minute, others carry on', async (t) => {
  // The server listens on 127.0.0.1 only, but any 127.0.0.0/8 source address reaches it.
  const server = await startServer(t);
  const attacker = '127.0.0.2';
  const wrong = (localAddress: string, headers: ReadonlyArray<readonly [string, string]> = []) =>
    sendRaw(server.baseUrl, { path: '/states', auth: basicAuth(USER, 'guess'), localAddress, headers });
  for (let i = 1; i <= 10; i++) t.equal((await wrong(attacker)).status, 401, `failure ${i}`);

  const push = (localAddress: string, headers: ReadonlyArray<readonly [string, string]> = []) =>
    sendRaw(server.baseUrl, { method: 'POST', path: '/states/guarded', headers: [...JSON_TYPE, ...headers], body: VALID_DOC, localAddress });
  const refused = await push(attacker);
  checkJsonError(t, refused, { status: 429, error: 'too_many_login_failures' });
  t.match(refused.headers['retry-after'] ?? '', /^\d+$/, 'Retry-After in seconds');
  t.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 60, 'within the minute');
  t.equal((await push(attacker, [['X-Forwarded-For', '198.51.100.1']])).status, 429, 'a spoofed X-Forwarded-For does not escape (no proxy is trusted)');
  t.equal((await wrong(attacker)).status, 429, 'further guesses are refused too');
  t.equal((await server.request('/states/guarded')).status, 404, 'nothing was stored');
  const { rows } = await server.db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
  t.equal(rows[0]?.n, '0', 'no event');

  t.equal((await sendRaw(server.baseUrl, { path: '/states', localAddress: '127.0.0.3' })).status, 200, 'another address logs in');
  t.equal((await server.request('/states')).status, 200, '127.0.0.1 logs in');
  for (let i = 0; i < 15; i++) await sendRaw(server.baseUrl, { path: '/states', auth: null, localAddress: '127.0.0.4' });
  t.equal((await sendRaw(server.baseUrl, { path: '/states', localAddress: '127.0.0.4' })).status, 200, 'requests without credentials are not failed logins');
  t.equal((await fetch(`${server.baseUrl}/livez`)).status, 200);
});

t.test('failed logins behind a trusted proxy are counted per forwarded address', async (t) => {
  const server = await startServer(t, { trustProxy: 'loopback' });
  const as = (client: string, authorization: string) => sendRaw(server.baseUrl, { path: '/states', auth: authorization, headers: [['X-Forwarded-For', client]] });
  for (let i = 1; i <= 10; i++) t.equal((await as('203.0.113.7', basicAuth(USER, `guess-${i}`))).status, 401);
  checkJsonError(t, await as('203.0.113.7', ALICE), { status: 429, error: 'too_many_login_failures' });
  t.equal((await as('203.0.113.8', ALICE)).status, 200, 'another client behind the proxy logs in');
  t.equal((await as('198.51.100.99, 203.0.113.7', ALICE)).status, 429, 'prepending a made-up address does not escape: the proxy appends the real one');
});
