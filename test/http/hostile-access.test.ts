import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { STATE_NAME_RULE } from '../../src/events/state-name.js';
import { oidcVerifier } from '../../src/identity/oidc.js';
import { encryptedDocument, md5Base64, stateDocument } from '../support/go-client.js';
import { DUMP, runHostileCases, sendRaw, STACK, type HostileRequest, type RawReply } from '../support/hostile.js';
import { startOidcIssuer, TEST_AUDIENCE, type TestOidcIssuer } from '../support/oidc-issuer.js';
import { basicAuth, startServer, type TestServer } from '../support/server.js';

/**
 * Issue 7: hostile input on the access-control routes (/access/*, GET /states/NAME/outputs) and
 * hostile credentials, in the style of hostile-input.test.ts. Each bad request must be answered
 * with an exact JSON error {error, message} (a sentence a Terraform user understands: no codec
 * or parser dump, no stack), and change nothing: GET /access/users, /access/tokens and
 * /access/grants, and the event counts (the `$access` stream's in GET /events as alice, and the
 * events table's) are the same before and after.
 *
 * The fixture gives every damaging request something to damage: users carol and dave, tokens
 * reader (read on *), writer (write on *), team-admin (admin on team-*), outputs-only (outputs on
 * app*, enc), OIDC grants (admin on team-* for every token of issuer `ci`, admin on * for
 * sub=deploy-admin), states app, enc (encrypted) and team-x. Wrong-role requests are sent with
 * valid, damaging bodies (a grant of admin on * to the caller, an apply that empties everything),
 * so one wrongly accepted would show in the snapshot.
 */

const CAROL_PW = 'carol-password-0001';
const LINEAGE = 'c0ffee00-0000-4000-8000-0000000000a1';

type ErrorBody = { readonly error: string; readonly message: string };

type Expect =
  /** A JSON error: `body` pins it exactly; otherwise `error` pins the code and `says` what the message must name. */
  | {
      readonly status: number | readonly number[];
      readonly body?: ErrorBody;
      readonly error?: string;
      readonly says?: RegExp;
      /** What the message must not say. */
      readonly not?: RegExp;
    }
  /** The client went away: nobody to answer. */
  | { readonly noReply: true };

interface Case {
  readonly kind: string;
  readonly request: HostileRequest;
  readonly expect: Expect;
  readonly waitMs?: number;
}

interface Secrets {
  readonly reader: string;
  readonly writer: string;
  readonly teamAdmin: string;
  readonly outputsOnly: string;
  readonly revoked: string;
}

interface Jwts {
  /** Valid; its only grant is admin on team-* (every token of issuer ci). */
  readonly teamBot: string;
  /** Valid; sub=deploy-admin-x, which the admin-on-* grant for sub=deploy-admin must not match. */
  readonly nearMiss: string;
  /** Valid; sub=deploy-admin: admin on *. */
  readonly deployAdmin: string;
  readonly expired: string;
  readonly expiredAt: string;
  /** Signed with a key not in the issuer's JWKS, under the issuer's kid. */
  readonly forged: string;
  readonly forgedKid: string;
  readonly embeddedJwk: string;
  readonly wrongAudience: string;
  readonly unknownIssuer: string;
  readonly noExp: string;
  readonly algNone: string;
  readonly algNoneSigned: string;
  readonly algNoneUpper: string;
  readonly hs256: string;
}

interface Ctx {
  readonly server: TestServer;
  readonly origin: string;
  readonly issuer: TestOidcIssuer;
  readonly secrets: Secrets;
  readonly jwts: Jwts;
  /** The access the fixture made, as an apply body: applying it changes nothing. */
  readonly current: { users: string[]; tokens: string[]; grants: Array<{ role: string; subject: string; glob: string }> };
}

// ---------------------------------------------------------------------------------------------
// Messages (the server's sentences, pinned)

const exact = (status: number, error: string, message: string): Expect => ({ status, body: { error, message } });
const bad = (error: string, message: string): Expect => exact(400, error, message);

/**
 * What a message says the client sent: text as JSON (cut after 64 characters, ending `..."`);
 * any other value unquoted, by kind (`42`, `null`, `true`, `nothing`, `a list`, `a mapping`), given as bare().
 */
type Got = string | { readonly bare: string };
const bare = (text: 'nothing' | 'a list' | 'a mapping' | 'null' | 'true' | `${number}`): Got => ({ bare: text });
const gotText = (got: Got) => (typeof got === 'string' ? JSON.stringify(got.length > 64 ? `${got.slice(0, 64)}...` : got) : got.bare);
const NOTHING = bare('nothing');
const A_LIST = bare('a list');
const A_MAPPING = bare('a mapping');

const NAME_RULE = 'names are letters, digits, ".", "_", "@" or "-", starting with a letter or digit, at most 64 characters';
const userNameMessage = (got: Got) => `user ${NAME_RULE}; got ${gotText(got)}`;
const tokenNameMessage = (got: Got) => `token ${NAME_RULE}; got ${gotText(got)}`;
const reservedMessage = (name: 'token' | 'oidc') =>
  `"${name}" is reserved (it is the Basic user name that carries a ${name === 'token' ? 'token' : 'JWT'}); choose another user name`;
const PASSWORD_MESSAGE = 'password must be text of 12 to 1024 characters';
const USER_SHAPE = '{"name": "alice", "password": "<optional; generated when absent>"}';
const PASSWORD_SHAPE = '{"password": "<at least 12 characters>"}';
const TOKEN_SHAPE = '{"name": "ci-deploy", "expires": "<optional: 30d, or a time>"}';
const GRANT_SHAPE = '{"role": "outputs|read|write|admin", "subject": "user:NAME|token:NAME|oidc:ISSUER[:claim=value,...]", "glob": "team-a-*"}';
const EXPIRES_MESSAGE = 'expires must be a duration such as 30d, 12h, 90m or 2w, or a future RFC 3339 time such as 2027-06-30T00:00:00Z, before the year 10000';
const SUBJECT_FORMS = 'user:NAME, token:NAME or oidc:ISSUER[:claim=value,...]';
const roleMessage = (got: Got) => `role must be outputs, read, write or admin; got ${gotText(got)}`;
const subjectTypeMessage = (got: Got) => `subject must be ${SUBJECT_FORMS}; got ${gotText(got)}`;
const subjectFormMessage = (got: string) => `a subject must be ${SUBJECT_FORMS}; got ${JSON.stringify(got.slice(0, 64))}`;
const OIDC_SUBJECT_MESSAGE = 'an oidc subject must name a configured issuer: oidc:ISSUER[:claim=value,...]';
const GLOB_MESSAGE = 'glob must be a state name pattern: letters, digits, ".", "_", "-", "/" and "*" (any run of characters), at most 256 characters';
const FILE_MAPPING = 'the access file must be a mapping with users, tokens and grants';
const fileExpiresMessage = (i: number, got: Got) => `tokens[${i}].expires must be an RFC 3339 time such as 2027-06-30T00:00:00Z, before the year 10000; got ${gotText(got)}`;
/** The test server trusts one OIDC issuer, named ci. */
const untrustedIssuerMessage = (subject: string, ctx: Ctx) => `${subject} names an issuer this server does not trust; configured: ci (${ctx.issuer.issuer})`;
const unknownSubject = (subject: string) => exact(422, 'unknown_subject', `${subject} does not exist; add the user or create the token before granting it a role`);

const INVALID_JSON = bad('invalid_json', 'the body is not valid JSON');
const INVALID_UTF8 = bad('invalid_utf8', 'the body must be UTF-8 text');
const TOO_LARGE = exact(413, 'too_large', 'the body exceeds the limit of 65536 bytes');
const BAD_PATH = bad('bad_request', 'the request could not be read (a path segment that is not valid percent-encoded UTF-8, say)');
const BAD_QUERY = bad('invalid_query', 'the query string must be percent-encoded UTF-8');
const DRY_RUN = bad('invalid_query', 'dry_run must be true or false, given once');
const noRoute = (method: string, path: string) => exact(404, 'not_found', `no route for ${method} ${path}`);
const md5Mismatch = (body: string | Buffer): Expect =>
  bad('content_md5_mismatch', `Content-MD5 is ${md5Base64(Buffer.from('other'))} but the body's MD5 is ${md5Base64(Buffer.from(body))}`);
const forbiddenManager = (actor: string) =>
  exact(403, 'forbidden', `managing access needs the admin role on every state (a grant of admin on *); ${actor} has none`);
const hidden = (name: string) => exact(404, 'not_found', `state ${name} does not exist, or this identity has no role on it`);
const refused = (reason: string) => exact(401, 'unauthorized', `the credentials were refused: ${reason}`);
const MISSING_CREDENTIALS = exact(
  401,
  'unauthorized',
  'credentials are required: HTTP Basic (a user and password; or user name token or oidc with an API token or a JWT as the password), or Authorization: Bearer <token or JWT>',
);
const ALGORITHMS = 'RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519';
const algRefused = (alg: string) => refused(`the token's algorithm ${alg} is not accepted; only asymmetric signatures are (${ALGORITHMS})`);
const NOT_JWT = refused('the token is not a JWT (three base64url parts separated by dots)');
const NOT_JWT_JSON = refused('the token is not a JWT: its header or claims are not base64url-encoded JSON objects');
const NOT_A_TOKEN = refused('that is not a state-ledger token');
const UNKNOWN_TOKEN = refused('the token is unknown or was revoked');
const NEITHER = refused('the Authorization header is neither valid Basic nor Bearer credentials');
const WRONG_PASSWORD = refused('the user name or password is wrong');
const HEADERS_TOO_LARGE = exact(431, 'headers_too_large', "the request's headers are too large");

// ---------------------------------------------------------------------------------------------
// Requests

const JSON_TYPE: ReadonlyArray<readonly [string, string]> = [['Content-Type', 'application/json']];
const get = (path: string, extra: Partial<HostileRequest> = {}): HostileRequest => ({ method: 'GET', path, ...extra });
const send = (method: string, path: string, body?: string | Buffer, extra: Partial<HostileRequest> = {}): HostileRequest => ({
  method,
  path,
  ...(body === undefined ? {} : { headers: JSON_TYPE, body }),
  ...extra,
});
const json = (value: unknown) => JSON.stringify(value);
/** `text` with the marker @@ replaced by raw bytes. */
const withBytes = (text: string, bytes: readonly number[]): Buffer => {
  const [before = '', after = ''] = text.split('@@');
  return Buffer.concat([Buffer.from(before, 'utf8'), Buffer.from(bytes), Buffer.from(after, 'utf8')]);
};
/** A JSON array `levels` deep, as text. */
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const withMd5 = (request: HostileRequest, md5: string): HostileRequest => ({ ...request, headers: [...(request.headers ?? []), ['Content-MD5', md5]] });

const postUser = (body: string | Buffer, extra: Partial<HostileRequest> = {}) => send('POST', '/access/users', body, extra);
const putPassword = (user: string, body: string | Buffer, extra: Partial<HostileRequest> = {}) => send('PUT', `/access/users/${user}/password`, body, extra);
const postToken = (body: string | Buffer, extra: Partial<HostileRequest> = {}) => send('POST', '/access/tokens', body, extra);
const postGrant = (body: string | Buffer, extra: Partial<HostileRequest> = {}) => send('POST', '/access/grants', body, extra);
const deleteGrant = (body: string | Buffer, extra: Partial<HostileRequest> = {}) => send('DELETE', '/access/grants', body, extra);
const apply = (body: string | Buffer, query = '', extra: Partial<HostileRequest> = {}) => send('POST', `/access/apply${query}`, body, extra);
const grant = (over: Record<string, unknown>) => json({ role: 'read', subject: 'user:carol', glob: 'team-*', ...over });
const grantText = (field: 'role' | 'subject' | 'glob', raw: string) =>
  `{${Object.entries({ role: '"read"', subject: '"user:carol"', glob: '"team-*"', [field]: raw })
    .map(([key, value]) => `${JSON.stringify(key)}:${value}`)
    .join(',')}}`;

/**
 * Every /access route, each with a valid request that would do damage if a caller who may not
 * manage access got it through.
 */
const damaging = (ctx: Ctx): Array<[string, HostileRequest]> => {
  const wipe = json({ users: [], tokens: [], grants: [] });
  return [
    ['GET /access/users', get('/access/users')],
    ['GET /access/tokens', get('/access/tokens')],
    ['GET /access/grants', get('/access/grants')],
    ['POST /access/users', postUser(json({ name: 'mallory', password: 'mallory-password-1' }))],
    ["PUT carol's password", putPassword('carol', json({ password: 'taken-over-password' }))],
    ['DELETE carol', send('DELETE', '/access/users/carol')],
    ['POST /access/tokens', postToken(json({ name: 'stolen' }))],
    ['DELETE the writer token', send('DELETE', '/access/tokens/writer')],
    ['POST a grant of admin on *', postGrant(json({ role: 'admin', subject: 'token:reader', glob: '*' }))],
    ['DELETE a grant', deleteGrant(json({ role: 'read', subject: 'user:carol', glob: '*' }))],
    ['POST /access/apply emptying everything', apply(wipe)],
    ['POST /access/apply?dry_run=true', apply(json(ctx.current), '?dry_run=true')],
  ];
};

// ---------------------------------------------------------------------------------------------
// The tables

const authentication = (ctx: Ctx): Case[] => {
  const { secrets, jwts } = ctx;
  const routes = damaging(ctx);
  const basic = (user: string, password: string) => basicAuth(user, password);
  const bearer = (secret: string) => `Bearer ${secret}`;
  // A token-shaped secret one character away from the reader's: the right shape, no such token.
  const last = secrets.reader.slice(-1) === 'A' ? 'B' : 'A';
  const nearSecret = `${secrets.reader.slice(0, -1)}${last}`;
  const cases: Array<[string, string | null, Expect]> = [
    ['Bearer with nothing after it', 'Bearer', NEITHER],
    ['Bearer and a space', 'Bearer ', NEITHER],
    ['Bearer with two spaces', `Bearer  ${secrets.reader}`, NEITHER],
    ['Bearer followed by a second word', `Bearer ${secrets.reader} ${secrets.writer}`, NEITHER],
    ['Bearer with characters outside RFC 6750', 'Bearer slt_<script>alert(1)</script>', NEITHER],
    ['Bearer with a quoted value', `Bearer "${secrets.reader}"`, NEITHER],
    ['Bearer with non-ASCII bytes', 'Bearer slt_\xe9\xe9', NEITHER],
    ['Bearer garbage', 'Bearer garbage', NOT_A_TOKEN],
    ['Bearer token-shaped secret that does not exist', bearer(nearSecret), UNKNOWN_TOKEN],
    ['Bearer secret of a revoked token', bearer(secrets.revoked), UNKNOWN_TOKEN],
    ['Bearer secret one character short', bearer(secrets.reader.slice(0, -1)), NOT_A_TOKEN],
    ['Bearer secret one character long', bearer(`${secrets.reader}A`), NOT_A_TOKEN],
    ['Bearer secret with base64 padding', bearer(`${secrets.reader}=`), NOT_A_TOKEN],
    ['Bearer secret with the prefix upper-cased', bearer(`SLT_${secrets.reader.slice(4)}`), NOT_A_TOKEN],
    ['Bearer secret without its prefix', bearer(secrets.reader.slice(4)), NOT_A_TOKEN],
    ['Bearer with 15,000 characters of JWT-shaped garbage', bearer(`${'a'.repeat(7500)}.${'b'.repeat(7400)}.`), NOT_JWT_JSON],
    ['Bearer JWT-shaped garbage', bearer('aaaa.bbbb.cccc'), NOT_JWT_JSON],
    ['Bearer JWT of empty objects', bearer(`${Buffer.from('{}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`), algRefused('nothing')],
    ['Bearer JWT whose parts are JSON arrays', bearer(`${Buffer.from('[]').toString('base64url')}.${Buffer.from('[]').toString('base64url')}.sig`), NOT_JWT_JSON],
    ['Bearer alg none JWT (empty signature)', bearer(jwts.algNone), algRefused('"none"')],
    ['Bearer alg none JWT with a signature', bearer(jwts.algNoneSigned), algRefused('"none"')],
    ['Bearer alg NONE JWT', bearer(jwts.algNoneUpper), algRefused('"NONE"')],
    ['Bearer HS256 JWT keyed with the public JWKS', bearer(jwts.hs256), algRefused('"HS256"')],
    ['Bearer JWT signed with a foreign key under the issuer kid', bearer(jwts.forged), refused(`the token's signature does not verify with the keys of OIDC issuer "ci"`)],
    ['Bearer JWT with an unknown kid', bearer(jwts.forgedKid), refused(`no key of OIDC issuer "ci" matches the token (kid "evil", alg "${ctx.issuer.alg}")`)],
    ['Bearer JWT carrying its own key in the header', bearer(jwts.embeddedJwk), refused(`the token's signature does not verify with the keys of OIDC issuer "ci"`)],
    ['Bearer JWT of an issuer not configured', bearer(jwts.unknownIssuer), refused(`the token's issuer "https://evil.example" is not an OIDC issuer this server accepts`)],
    ['Bearer JWT for another audience', bearer(jwts.wrongAudience), refused(`the token's audience "another-service" is not one this server accepts ("${TEST_AUDIENCE}")`)],
    ['Bearer expired JWT', bearer(jwts.expired), refused(`the token expired at ${jwts.expiredAt}; request a fresh one`)],
    ['Bearer JWT without exp', bearer(jwts.noExp), refused('the token has no "exp" claim')],
    ['Bearer of 17 KiB', bearer(`slt_${'A'.repeat(17 * 1024)}`), HEADERS_TOO_LARGE],
    ['Bearer JWT of 64 KiB', bearer(`${'a'.repeat(32 * 1024)}.${'b'.repeat(32 * 1024)}.c`), HEADERS_TOO_LARGE],
    ['Basic token: with garbage', basic('token', 'garbage'), NOT_A_TOKEN],
    ['Basic token: with nothing', basic('token', ''), NOT_A_TOKEN],
    ['Basic token: with a token-shaped secret that does not exist', basic('token', nearSecret), UNKNOWN_TOKEN],
    ['Basic token: with a revoked secret', basic('token', secrets.revoked), UNKNOWN_TOKEN],
    ['Basic token: with a secret and a trailing newline', basic('token', `${secrets.reader}\n`), NOT_A_TOKEN],
    ['Basic token: with a valid JWT', basic('token', jwts.deployAdmin), NOT_A_TOKEN],
    ['Basic token: with 8 KiB of garbage', basic('token', 'x'.repeat(8 * 1024)), NOT_A_TOKEN],
    ['Basic token: with 16 KiB of garbage', basic('token', 'x'.repeat(16 * 1024)), HEADERS_TOO_LARGE],
    ['Basic Token: (another case) with a valid secret', basic('Token', secrets.reader), WRONG_PASSWORD],
    ['Basic with the secret as the user name', basic(secrets.reader, ''), WRONG_PASSWORD],
    ['Basic oidc: with garbage', basic('oidc', 'garbage'), NOT_JWT],
    ['Basic oidc: with nothing', basic('oidc', ''), NOT_JWT],
    ['Basic oidc: with JWT-shaped garbage', basic('oidc', 'x.y.z'), NOT_JWT_JSON],
    ['Basic oidc: with an API token', basic('oidc', secrets.reader), NOT_JWT],
    ['Basic oidc: with an alg none JWT', basic('oidc', jwts.algNone), algRefused('"none"')],
    ['Basic oidc: with a forged JWT', basic('oidc', jwts.forged), refused(`the token's signature does not verify with the keys of OIDC issuer "ci"`)],
    ['Basic oidc: with a JWT and a trailing space', basic('oidc', `${jwts.deployAdmin} `), NOT_JWT],
    ['Basic OIDC: (another case) with a valid JWT', basic('OIDC', jwts.deployAdmin), WRONG_PASSWORD],
    ['Basic carol with a wrong password', basic('carol', 'not-her-password'), WRONG_PASSWORD],
    ['Basic dave (generated password) with an empty password', basic('dave', ''), WRONG_PASSWORD],
  ];
  const rotated = cases.map(([kind, authorization, expect], i): Case => {
    const [label, request] = routes[i % routes.length]!;
    return { kind: `auth: ${kind} (${label})`, request: { ...request, auth: authorization }, expect };
  });
  const missing = routes.map(([label, request]): Case => ({ kind: `auth: no credentials (${label})`, request: { ...request, auth: null }, expect: MISSING_CREDENTIALS }));
  const outputs: Case[] = [
    { kind: 'auth: no credentials (GET /states/app/outputs)', request: get('/states/app/outputs', { auth: null }), expect: MISSING_CREDENTIALS },
    { kind: 'auth: alg none JWT (GET /states/app/outputs)', request: get('/states/app/outputs', { auth: bearer(jwts.algNone) }), expect: algRefused('"none"') },
    { kind: 'auth: revoked token (GET /states/app/outputs)', request: get('/states/app/outputs', { auth: basic('token', secrets.revoked) }), expect: UNKNOWN_TOKEN },
    { kind: 'auth: Basic oidc: garbage (GET /states/app/outputs)', request: get('/states/app/outputs', { auth: basic('oidc', 'garbage') }), expect: NOT_JWT },
  ];
  return [...rotated, ...missing, ...outputs];
};

/** Callers who may not manage access, on every /access route: 403, the exact body, nothing changed. */
const wrongRoles = (ctx: Ctx): Case[] => {
  const { secrets, jwts, issuer } = ctx;
  const callers: Array<[string, string, string]> = [
    ['a read token (Bearer)', `Bearer ${secrets.reader}`, 'token:reader'],
    ['a write token (Basic token:)', basicAuth('token', secrets.writer), 'token:writer'],
    ['an admin token on team-* only', `Bearer ${secrets.teamAdmin}`, 'token:team-admin'],
    ['an outputs token', basicAuth('token', secrets.outputsOnly), 'token:outputs-only'],
    ['a database user with read on *', basicAuth('carol', CAROL_PW), 'user:carol'],
    ['an OIDC JWT with admin on team-*', `Bearer ${jwts.teamBot}`, `oidc:${issuer.issuer}`],
    ['an OIDC JWT whose sub only starts like the admin one', basicAuth('oidc', jwts.nearMiss), `oidc:${issuer.issuer}`],
  ];
  return callers.flatMap(([who, authorization, actor]) =>
    damaging(ctx).map(([label, request]): Case => ({ kind: `role: ${who}: ${label}`, request: { ...request, auth: authorization }, expect: forbiddenManager(actor) })),
  );
};

const users = (): Case[] => {
  const invalid = (got: Got) => bad('invalid_user', userNameMessage(got));
  const shape = bad('invalid_user', `the body must be a JSON object: ${USER_SHAPE}`);
  const pw = bad('invalid_user', PASSWORD_MESSAGE);
  const valid = json({ name: 'mallory', password: 'mallory-password-1' });
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['empty body', postUser(''), shape],
    ['not JSON', postUser('name=mallory'), INVALID_JSON],
    ['truncated JSON', postUser(valid.slice(0, -2)), INVALID_JSON],
    ['trailing garbage', postUser(`${valid}x`), INVALID_JSON],
    ['an array', postUser(json([{ name: 'mallory' }])), shape],
    ['a JSON string', postUser('"mallory"'), shape],
    ['null', postUser('null'), shape],
    ['a number', postUser('42'), shape],
    ['an unknown field (role)', postUser(json({ name: 'mallory', role: 'admin' })), bad('invalid_user', `unknown field "role"; the body is ${USER_SHAPE}`)],
    ['an unknown field (__proto__)', postUser('{"name":"mallory","__proto__":{"admin":true}}'), bad('invalid_user', `unknown field "__proto__"; the body is ${USER_SHAPE}`)],
    ['an unknown field with a 1000-character name', postUser(json({ name: 'mallory', ['k'.repeat(1000)]: 1 })), bad('invalid_user', `unknown field ${JSON.stringify(`${'k'.repeat(64)}...`)}; the body is ${USER_SHAPE}`)],
    ['name missing', postUser(json({ password: 'mallory-password-1' })), invalid(NOTHING)],
    ['name a number', postUser(json({ name: 42 })), invalid(bare('42'))],
    ['name null', postUser(json({ name: null })), invalid(bare('null'))],
    ['name true', postUser(json({ name: true })), invalid(bare('true'))],
    ['name an array', postUser(json({ name: ['mallory'] })), invalid(A_LIST)],
    ['name an object', postUser(json({ name: { $ne: null } })), invalid(A_MAPPING)],
    ['name nested 30,000 levels deep', postUser(`{"name":${deep(30_000)}}`), invalid(A_LIST)],
    ['name empty', postUser(json({ name: '' })), invalid('')],
    ['name with a space', postUser(json({ name: 'mal lory' })), invalid('mal lory')],
    ['name with a control character', postUser(json({ name: 'mal\u0001lory' })), invalid('mal\u0001lory')],
    ['name with a trailing newline', postUser(json({ name: 'carol\n' })), invalid('carol\n')],
    ['name with a NUL', postUser(json({ name: 'mallory\u0000' })), invalid('mallory\u0000')],
    ['name with a raw control byte in the JSON string', postUser('{"name":"mal\u0001lory"}'), INVALID_JSON],
    ['name of 65 characters', postUser(json({ name: 'm'.repeat(65) })), invalid('m'.repeat(65))],
    ['name of 10,000 characters', postUser(json({ name: 'm'.repeat(10_000) })), invalid('m'.repeat(10_000))],
    ['name starting with a dot', postUser(json({ name: '.mallory' })), invalid('.mallory')],
    ['name starting with a dash', postUser(json({ name: '-mallory' })), invalid('-mallory')],
    ['name with a colon', postUser(json({ name: 'user:mallory' })), invalid('user:mallory')],
    ['name with a slash', postUser(json({ name: 'a/b' })), invalid('a/b')],
    ['name with a Cyrillic a', postUser(json({ name: 'c\u0430rol' })), invalid('c\u0430rol')],
    ['name with an unpaired surrogate', postUser('{"name":"mal\\ud800"}'), invalid('mal\ud800')],
    ['the reserved name token', postUser(json({ name: 'token', password: 'mallory-password-1' })), bad('invalid_user', reservedMessage('token'))],
    ['the reserved name oidc', postUser(json({ name: 'oidc' })), bad('invalid_user', reservedMessage('oidc'))],
    ['name given twice, the last one reserved', postUser('{"name":"mallory","name":"token"}'), bad('invalid_user', reservedMessage('token'))],
    ['an existing user', postUser(json({ name: 'carol', password: 'another-password-1' })), exact(409, 'user_exists', 'user carol exists already')],
    ['password of 11 characters', postUser(json({ name: 'mallory', password: 'p'.repeat(11) })), pw],
    ['password of 1025 characters', postUser(json({ name: 'mallory', password: 'p'.repeat(1025) })), pw],
    ['password empty', postUser(json({ name: 'mallory', password: '' })), pw],
    ['password a number', postUser(json({ name: 'mallory', password: 123456789012345 })), pw],
    ['password null', postUser(json({ name: 'mallory', password: null })), pw],
    ['password an array', postUser(json({ name: 'mallory', password: ['mallory-password-1'] })), pw],
    ['password nested 30,000 levels deep', postUser(`{"name":"mallory","password":${deep(30_000)}}`), pw],
    ['nested 100,000 levels deep (over 64 KiB)', postUser(`{"name":${deep(100_000)}}`), TOO_LARGE],
    ['a body over 64 KiB', postUser(json({ name: 'mallory', password: 'p'.repeat(70_000) })), TOO_LARGE],
    ['a body of 64 KiB + 1 byte', postUser(`${json({ name: 'mallory', password: 'mallory-password-1' })}${' '.repeat(65_537 - valid.length)}`), TOO_LARGE],
    // body-parser drains a body it refuses before answering, so a client that never sends it is timed out instead.
    ['a Content-Length of 10 MB, the body never sent', postUser(valid, { contentLength: String(10 * 1024 * 1024) }), { status: [408, 413] }],
    ['an invalid UTF-8 byte in the name', postUser(withBytes('{"name":"mal@@lory"}', [0xff])), INVALID_UTF8],
    ['an overlong UTF-8 NUL in the password', postUser(withBytes('{"name":"mallory","password":"mallory-pass@@word"}', [0xc0, 0x80])), INVALID_UTF8],
    ['Latin-1 text', postUser(withBytes('{"name":"mallory","password":"caf@@-password-1"}', [0xe9])), INVALID_UTF8],
    ['UTF-16LE (NUL bytes are UTF-8)', postUser(Buffer.from(valid, 'utf16le')), INVALID_JSON],
    ['a byte order mark', postUser(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(valid)])), INVALID_JSON],
    ['a form-encoded body (Content-Type: application/x-www-form-urlencoded)', postUser('name=mallory&password=mallory-password-1', { headers: [['Content-Type', 'application/x-www-form-urlencoded']] }), INVALID_JSON],
    ['a multipart body', postUser('--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nmallory\r\n--x--\r\n', { headers: [['Content-Type', 'multipart/form-data; boundary=x']] }), INVALID_JSON],
    ['a YAML body (Content-Type: application/yaml)', postUser('name: mallory\npassword: mallory-password-1\n', { headers: [['Content-Type', 'application/yaml']] }), INVALID_JSON],
    ['a reserved name sent as text/plain', postUser(json({ name: 'oidc' }), { headers: [['Content-Type', 'text/plain']] }), bad('invalid_user', reservedMessage('oidc'))],
    ['Content-MD5 of other bytes', withMd5(postUser(valid), md5Base64(Buffer.from('other'))), md5Mismatch(valid)],
    ['Content-MD5 not base64', withMd5(postUser(valid), 'not an md5'), bad('invalid_content_md5', 'Content-MD5 must be a base64 MD5 digest')],
    ['Content-MD5 as hex', withMd5(postUser(valid), createHash('md5').update(valid).digest('hex')), bad('invalid_content_md5', 'Content-MD5 must be a base64 MD5 digest')],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `POST /access/users: ${kind}`, request, expect }));
};

const passwords = (): Case[] => {
  const valid = json({ password: 'taken-over-password' });
  const shape = bad('invalid_password', `the body must be a JSON object: ${PASSWORD_SHAPE}`);
  const pw = bad('invalid_password', PASSWORD_MESSAGE);
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['a user that does not exist', putPassword('nobody', valid), exact(404, 'not_found', 'there is no user nobody')],
    ['a development user (not in the database)', putPassword('alice', valid), exact(404, 'not_found', 'there is no user alice')],
    ['carol in upper case', putPassword('CAROL', valid), exact(404, 'not_found', 'there is no user CAROL')],
    ['the reserved user token', putPassword('token', valid), bad('invalid_user', reservedMessage('token'))],
    ['a user name with a space', putPassword('car%20ol', valid), bad('invalid_user', userNameMessage('car ol'))],
    ['a user name with a newline', putPassword('carol%0A', valid), bad('invalid_user', userNameMessage('carol\n'))],
    ['a user name of 65 characters', putPassword('c'.repeat(65), valid), bad('invalid_user', userNameMessage('c'.repeat(65)))],
    ['a user name that is not UTF-8', putPassword('%FF', valid), BAD_PATH],
    ['an encoded slash in the user name', putPassword('carol%2Fx', valid), bad('invalid_user', userNameMessage('carol/x'))],
    ['empty body', putPassword('carol', ''), shape],
    ['not JSON', putPassword('carol', 'taken-over-password'), INVALID_JSON],
    ['an array', putPassword('carol', json(['taken-over-password'])), shape],
    ['a JSON string', putPassword('carol', '"taken-over-password"'), shape],
    ['an unknown field (name)', putPassword('carol', json({ password: 'taken-over-password', name: 'dave' })), bad('invalid_password', `unknown field "name"; the body is ${PASSWORD_SHAPE}`)],
    ['an unknown field (old_password)', putPassword('carol', json({ old_password: CAROL_PW, password: 'taken-over-password' })), bad('invalid_password', `unknown field "old_password"; the body is ${PASSWORD_SHAPE}`)],
    ['password missing', putPassword('carol', '{}'), pw],
    ['password of 11 characters', putPassword('carol', json({ password: 'p'.repeat(11) })), pw],
    ['password of 1025 characters', putPassword('carol', json({ password: 'p'.repeat(1025) })), pw],
    ['password a number', putPassword('carol', json({ password: 1234567890123 })), pw],
    ['password an object', putPassword('carol', json({ password: { length: 20 } })), pw],
    ['password nested 30,000 levels deep', putPassword('carol', `{"password":${deep(30_000)}}`), pw],
    ['nested 100,000 levels deep (over 64 KiB)', putPassword('carol', `{"password":${deep(100_000)}}`), TOO_LARGE],
    ['a body over 64 KiB', putPassword('carol', json({ password: 'p'.repeat(70_000) })), TOO_LARGE],
    ['an invalid UTF-8 byte in the password', putPassword('carol', withBytes('{"password":"taken-over-pass@@word"}', [0xfe])), INVALID_UTF8],
    ['a UTF-8-encoded surrogate in the password', putPassword('carol', withBytes('{"password":"taken-over-pass@@word"}', [0xed, 0xa0, 0x80])), INVALID_UTF8],
    ['Content-MD5 of other bytes', withMd5(putPassword('carol', valid), md5Base64(Buffer.from('other'))), md5Mismatch(valid)],
    ['POST instead of PUT', send('POST', '/access/users/carol/password', valid), noRoute('POST', '/access/users/carol/password')],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `PUT /access/users/USER/password: ${kind}`, request, expect }));
};

const userRemovals = (): Case[] => {
  const del = (user: string, extra: Partial<HostileRequest> = {}) => send('DELETE', `/access/users/${user}`, undefined, extra);
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['a user that does not exist', del('nobody'), exact(404, 'not_found', 'there is no user nobody')],
    ['a development user', del('alice'), exact(404, 'not_found', 'there is no user alice')],
    ['carol in upper case', del('CAROL'), exact(404, 'not_found', 'there is no user CAROL')],
    ['the reserved name token', del('token'), bad('invalid_user', reservedMessage('token'))],
    ['the reserved name oidc', del('oidc'), bad('invalid_user', reservedMessage('oidc'))],
    ['a name with a space', del('car%20ol'), bad('invalid_user', userNameMessage('car ol'))],
    ['a name with a NUL', del('carol%00'), bad('invalid_user', userNameMessage('carol\u0000'))],
    ['a name with a trailing newline', del('carol%0A'), bad('invalid_user', userNameMessage('carol\n'))],
    ['a name of 65 characters', del('c'.repeat(65)), bad('invalid_user', userNameMessage('c'.repeat(65)))],
    ['a glob for a name', del('*'), bad('invalid_user', userNameMessage('*'))],
    ['an encoded ../', del('..%2Fcarol'), bad('invalid_user', userNameMessage('../carol'))],
    ['a name that is not UTF-8', del('%C0%AF'), BAD_PATH],
    ['a JSON body naming carol on a user that does not exist', send('DELETE', '/access/users/nobody', json({ name: 'carol' })), exact(404, 'not_found', 'there is no user nobody')],
    ['a subject for a name', del('user:carol'), bad('invalid_user', userNameMessage('user:carol'))],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `DELETE /access/users/USER: ${kind}`, request, expect }));
};

const tokens = (ctx: Ctx): Case[] => {
  const invalid = (got: Got) => bad('invalid_token', tokenNameMessage(got));
  const shape = bad('invalid_token', `the body must be a JSON object: ${TOKEN_SHAPE}`);
  const expires = bad('invalid_token', EXPIRES_MESSAGE);
  const named = (value: unknown) => postToken(json({ name: 'stolen', expires: value }));
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['empty body', postToken(''), shape],
    ['not JSON', postToken('stolen'), INVALID_JSON],
    ['an array', postToken('["stolen"]'), shape],
    ['null', postToken('null'), shape],
    ['an unknown field (secret: choosing its own secret)', postToken(json({ name: 'stolen', secret: ctx.secrets.reader })), bad('invalid_token', `unknown field "secret"; the body is ${TOKEN_SHAPE}`)],
    ['an unknown field (role)', postToken(json({ name: 'stolen', role: 'admin' })), bad('invalid_token', `unknown field "role"; the body is ${TOKEN_SHAPE}`)],
    ['an unknown field (expire, a typo)', postToken(json({ name: 'stolen', expire: '1h' })), bad('invalid_token', `unknown field "expire"; the body is ${TOKEN_SHAPE}`)],
    ['name missing', postToken(json({ expires: '30d' })), invalid(NOTHING)],
    ['name a number', postToken(json({ name: 7 })), invalid(bare('7'))],
    ['name an array', postToken(json({ name: ['stolen'] })), invalid(A_LIST)],
    ['name an object with a toString key', postToken(json({ name: { toString: 'x' } })), invalid(A_MAPPING)],
    ['name nested 30,000 levels deep', postToken(`{"name":${deep(30_000)}}`), invalid(A_LIST)],
    ['name empty', postToken(json({ name: '' })), invalid('')],
    ['name with a space', postToken(json({ name: 'ci deploy' })), invalid('ci deploy')],
    ['name with a tab', postToken(json({ name: 'ci\tdeploy' })), invalid('ci\tdeploy')],
    ['name with a control character', postToken(json({ name: 'ci\u001bdeploy' })), invalid('ci\u001bdeploy')],
    ['name of 65 characters', postToken(json({ name: 't'.repeat(65) })), invalid('t'.repeat(65))],
    ['name with a colon', postToken(json({ name: 'token:reader' })), invalid('token:reader')],
    ['name with a glob', postToken(json({ name: 'ci-*' })), invalid('ci-*')],
    ['an existing token', postToken(json({ name: 'reader' })), exact(409, 'token_exists', 'token reader exists already; revoke it first to make a new one under that name')],
    ['expires in the past', named('2001-01-01T00:00:00Z'), expires],
    ['expires now-ish (a second ago)', named(new Date(Date.now() - 1000).toISOString()), expires],
    ['expires February 30', named('2099-02-30T00:00:00Z'), expires],
    ['expires a date without a time', named('2099-06-30'), expires],
    ['expires without an offset', named('2099-06-30T00:00:00'), expires],
    ['expires 0d', named('0d'), expires],
    ['expires -1d', named('-1d'), expires],
    ['expires 1y (no such unit)', named('1y'), expires],
    ['expires 30D (upper case)', named('30D'), expires],
    ['expires 30 days', named('30 days'), expires],
    ['expires P30D (ISO 8601 duration)', named('P30D'), expires],
    ['expires of seven digits', named('1000000d'), expires],
    ['expires "now"', named('now'), expires],
    ['expires empty', named(''), expires],
    ['expires a number', named(30), expires],
    ['expires Unix seconds', named(4102444800), expires],
    ['expires null', named(null), expires],
    ['expires an array', named(['30d']), expires],
    ['expires nested 30,000 levels deep', postToken(`{"name":"stolen","expires":${deep(30_000)}}`), expires],
    ['a body over 64 KiB', postToken(json({ name: 'stolen', expires: ` ${' '.repeat(70_000)}30d` })), TOO_LARGE],
    ['nested 100,000 levels deep (over 64 KiB)', postToken(`{"expires":${deep(100_000)}}`), TOO_LARGE],
    ['an invalid UTF-8 byte in the name', postToken(withBytes('{"name":"stolen@@"}', [0x80])), INVALID_UTF8],
    ['a truncated multi-byte sequence', postToken(withBytes('{"name":"stolen@@"}', [0xe2, 0x82])), INVALID_UTF8],
    ['Content-MD5 of other bytes', withMd5(postToken(json({ name: 'stolen' })), md5Base64(Buffer.from('other'))), md5Mismatch(json({ name: 'stolen' }))],
  ];
  const revoke = (name: string) => send('DELETE', `/access/tokens/${name}`);
  const revocations: Array<[string, HostileRequest, Expect]> = [
    ['a token that does not exist', revoke('nobody'), exact(404, 'not_found', 'there is no token nobody')],
    ['a token already revoked', revoke('revoked'), exact(404, 'not_found', 'there is no token revoked')],
    ['writer in upper case', revoke('WRITER'), exact(404, 'not_found', 'there is no token WRITER')],
    ["the reader's secret instead of its name", revoke(ctx.secrets.reader), exact(404, 'not_found', `there is no token ${ctx.secrets.reader}`)],
    ['a name with a space', revoke('wri%20ter'), bad('invalid_token', tokenNameMessage('wri ter'))],
    ['a name with an encoded slash', revoke('writer%2Fx'), bad('invalid_token', tokenNameMessage('writer/x'))],
    ['a name of 65 characters', revoke('w'.repeat(65)), bad('invalid_token', tokenNameMessage('w'.repeat(65)))],
    ['a glob', revoke('*'), bad('invalid_token', tokenNameMessage('*'))],
    ['a name that is not UTF-8', revoke('%FF'), BAD_PATH],
    ['no name', revoke(''), noRoute('DELETE', '/access/tokens/')],
    ['a JSON body naming writer on a token that does not exist', send('DELETE', '/access/tokens/nobody', json({ name: 'writer' })), exact(404, 'not_found', 'there is no token nobody')],
  ];
  return [
    ...cases.map(([kind, request, expect]) => ({ kind: `POST /access/tokens: ${kind}`, request, expect })),
    ...revocations.map(([kind, request, expect]) => ({ kind: `DELETE /access/tokens/TOKEN: ${kind}`, request, expect })),
  ];
};

const grants = (ctx: Ctx): Case[] => {
  const invalid = (message: string) => bad('invalid_grant', message);
  const untrusted = (subject: string) => invalid(untrustedIssuerMessage(subject, ctx));
  const shape = invalid(`the body must be a JSON object: ${GRANT_SHAPE}`);
  const glob = invalid(GLOB_MESSAGE);
  const valid = grant({});
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['empty body', postGrant(''), shape],
    ['not JSON', postGrant('role=admin&subject=user:carol&glob=*'), INVALID_JSON],
    ['an array of grants', postGrant(json([{ role: 'read', subject: 'user:carol', glob: 'team-*' }])), shape],
    ['a JSON string', postGrant('"admin"'), shape],
    ['an unknown field (expires)', postGrant(grant({ expires: '1h' })), invalid(`unknown field "expires"; the body is ${GRANT_SHAPE}`)],
    ['an unknown field (constructor)', postGrant(grant({ constructor: 'x' })), invalid(`unknown field "constructor"; the body is ${GRANT_SHAPE}`)],
    ['role owner', postGrant(grant({ role: 'owner' })), invalid(roleMessage('owner'))],
    ['role Admin (another case)', postGrant(grant({ role: 'Admin' })), invalid(roleMessage('Admin'))],
    ['role with a trailing space', postGrant(grant({ role: 'admin ' })), invalid(roleMessage('admin '))],
    ['role a number', postGrant(grant({ role: 3 })), invalid(roleMessage(bare('3')))],
    ['role an array', postGrant(grant({ role: ['admin'] })), invalid(roleMessage(A_LIST))],
    ['role an object', postGrant(grant({ role: { $in: ['admin'] } })), invalid(roleMessage(A_MAPPING))],
    ['role missing', postGrant(json({ subject: 'user:carol', glob: 'team-*' })), invalid(roleMessage(NOTHING))],
    ['role nested 30,000 levels deep', postGrant(grantText('role', deep(30_000))), invalid(roleMessage(A_LIST))],
    ['role given twice, the last one unknown', postGrant('{"role":"read","subject":"user:carol","glob":"team-*","role":"root"}'), invalid(roleMessage('root'))],
    ['subject group:x', postGrant(grant({ subject: 'group:x' })), invalid(subjectFormMessage('group:x'))],
    ['subject oidc:', postGrant(grant({ subject: 'oidc:' })), invalid(OIDC_SUBJECT_MESSAGE)],
    ['subject user:', postGrant(grant({ subject: 'user:' })), invalid(`user ${NAME_RULE}`)],
    ['subject token:', postGrant(grant({ subject: 'token:' })), invalid(`token ${NAME_RULE}`)],
    ['subject without a kind', postGrant(grant({ subject: 'carol' })), invalid(subjectFormMessage('carol'))],
    ['subject USER:carol (another case)', postGrant(grant({ subject: 'USER:carol' })), invalid(subjectFormMessage('USER:carol'))],
    ['subject with a space in the user name', postGrant(grant({ subject: 'user:car ol' })), invalid(`user ${NAME_RULE}`)],
    ['subject oidc: with a space in the issuer', postGrant(grant({ subject: 'oidc: ci' })), invalid(OIDC_SUBJECT_MESSAGE)],
    ['subject oidc with a malformed claim list', postGrant(grant({ subject: 'oidc:ci:sub=a,=b' })), invalid(OIDC_SUBJECT_MESSAGE)],
    ['subject of 1025 characters', postGrant(grant({ subject: `oidc:ci:sub=${'s'.repeat(1013)}` })), invalid('a subject is at most 1024 characters')],
    ['subject a number', postGrant(grant({ subject: 7 })), invalid(subjectTypeMessage(bare('7')))],
    ['subject an array', postGrant(grant({ subject: ['user:carol'] })), invalid(subjectTypeMessage(A_LIST))],
    ['subject an OIDC issuer not configured (a URL)', postGrant(grant({ role: 'admin', subject: 'oidc:https://evil.example', glob: '*' })), untrusted('oidc:https://evil.example')],
    ['subject an OIDC issuer not configured (a name, with claims)', postGrant(grant({ role: 'admin', subject: 'oidc:evil:sub=deploy-admin', glob: '*' })), untrusted('oidc:evil:sub=deploy-admin')],
    ['subject the configured issuer URL with a trailing slash', postGrant(grant({ role: 'admin', subject: `oidc:${ctx.issuer.issuer}/`, glob: '*' })), untrusted(`oidc:${ctx.issuer.issuer}/`)],
    ['subject the configured issuer name in upper case', postGrant(grant({ role: 'admin', subject: 'oidc:CI', glob: '*' })), untrusted('oidc:CI')],
    ['subject a user that does not exist', postGrant(grant({ subject: 'user:nobody' })), unknownSubject('user:nobody')],
    ['subject a development user (not in the database)', postGrant(grant({ subject: 'user:alice' })), unknownSubject('user:alice')],
    ['subject a revoked token', postGrant(grant({ subject: 'token:revoked' })), unknownSubject('token:revoked')],
    ['subject the user named like a reserved name', postGrant(grant({ subject: 'user:token' })), unknownSubject('user:token')],
    ['glob with a space', postGrant(grant({ glob: 'team a*' })), glob],
    ['glob with a semicolon', postGrant(grant({ glob: "team-*';--" })), glob],
    ['glob with ?', postGrant(grant({ glob: 'team-?' })), glob],
    ['glob with a character class', postGrant(grant({ glob: '[a-z]*' })), glob],
    ['glob with a SQL wildcard %', postGrant(grant({ glob: 'team-%' })), glob],
    ['glob with a backslash', postGrant(grant({ glob: 'team-\\*' })), glob],
    ['glob with a NUL', postGrant(grant({ glob: 'team-\u0000' })), glob],
    ['glob empty', postGrant(grant({ glob: '' })), glob],
    ['glob of 257 characters', postGrant(grant({ glob: `${'g'.repeat(256)}*` })), glob],
    ['glob an object (a query operator)', postGrant(grant({ glob: { $regex: '.*' } })), glob],
    ['glob a number', postGrant(grant({ glob: 1 })), glob],
    ['glob an array', postGrant(grant({ glob: ['*'] })), glob],
    ['glob missing', postGrant(json({ role: 'read', subject: 'user:carol' })), glob],
    ['glob with a non-ASCII letter', postGrant(grant({ glob: 'équipe-*' })), glob],
    ['nested 100,000 levels deep (over 64 KiB)', postGrant(grantText('glob', deep(100_000))), TOO_LARGE],
    ['a body over 64 KiB', postGrant(grant({ subject: `oidc:ci:sub=${'s'.repeat(70_000)}` })), TOO_LARGE],
    ['an invalid UTF-8 byte in the glob', postGrant(withBytes('{"role":"read","subject":"user:carol","glob":"team-@@*"}', [0xff])), INVALID_UTF8],
    ['Content-MD5 of other bytes', withMd5(postGrant(valid), md5Base64(Buffer.from('other'))), md5Mismatch(valid)],
    ['Content-MD5 as hex', withMd5(postGrant(valid), createHash('md5').update(valid).digest('hex')), bad('invalid_content_md5', 'Content-MD5 must be a base64 MD5 digest')],
  ];
  const existing = json({ role: 'read', subject: 'user:carol', glob: '*' });
  const revocations: Array<[string, HostileRequest, Expect]> = [
    ['a grant nobody has', deleteGrant(json({ role: 'admin', subject: 'user:carol', glob: '*' })), exact(404, 'not_found', 'user:carol has no admin grant on *')],
    ["another glob than carol's", deleteGrant(json({ role: 'read', subject: 'user:carol', glob: '**' })), exact(404, 'not_found', 'user:carol has no read grant on **')],
    ["carol's grant for an upper-case CAROL", deleteGrant(json({ role: 'read', subject: 'user:CAROL', glob: '*' })), exact(404, 'not_found', 'user:CAROL has no read grant on *')],
    ['a grant of a user that does not exist', deleteGrant(json({ role: 'read', subject: 'user:nobody', glob: '*' })), exact(404, 'not_found', 'user:nobody has no read grant on *')],
    ['empty body', deleteGrant(''), shape],
    ['no body at all', send('DELETE', '/access/grants'), shape],
    ['not JSON', deleteGrant('read user:carol *'), INVALID_JSON],
    ['an array', deleteGrant(`[${existing}]`), shape],
    ['an unknown field', deleteGrant(json({ role: 'read', subject: 'user:carol', glob: '*', all: true })), invalid(`unknown field "all"; the body is ${GRANT_SHAPE}`)],
    ['role a glob', deleteGrant(json({ role: '*', subject: 'user:carol', glob: '*' })), invalid(roleMessage('*'))],
    ['subject a glob', deleteGrant(json({ role: 'read', subject: 'user:*', glob: '*' })), invalid(`user ${NAME_RULE}`)],
    ['subject nested 30,000 levels deep', deleteGrant(grantText('subject', deep(30_000))), invalid(subjectTypeMessage(A_LIST))],
    ['role nested 30,000 levels deep', deleteGrant(grantText('role', deep(30_000))), invalid(roleMessage(A_LIST))],
    ['a body over 64 KiB', deleteGrant(json({ role: 'read', subject: 'user:carol', glob: '*', pad: 'x'.repeat(70_000) })), TOO_LARGE],
    ['an invalid UTF-8 byte', deleteGrant(withBytes('{"role":"read","subject":"user:carol@@","glob":"*"}', [0xc3])), INVALID_UTF8],
    ['Content-MD5 of other bytes', withMd5(deleteGrant(existing), md5Base64(Buffer.from('other'))), md5Mismatch(existing)],
  ];
  return [
    ...cases.map(([kind, request, expect]) => ({ kind: `POST /access/grants: ${kind}`, request, expect })),
    ...revocations.map(([kind, request, expect]) => ({ kind: `DELETE /access/grants: ${kind}`, request, expect })),
  ];
};

const applies = (ctx: Ctx): Case[] => {
  const { current } = ctx;
  const invalid = (message: string) => bad('invalid_access_file', message);
  /** The current access with one thing changed: accepted by mistake, only that thing would change. */
  const file = (over: Record<string, unknown>) => json({ ...current, ...over });
  const nextUser = current.users.length;
  const nextToken = current.tokens.length;
  const nextGrant = current.grants.length;
  const withUser = (name: unknown) => file({ users: [...current.users, name] });
  const withToken = (entry: unknown) => file({ tokens: [...current.tokens, entry] });
  const withGrant = (entry: unknown) => file({ grants: [...current.grants, entry] });
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['empty body', apply(''), invalid(FILE_MAPPING)],
    ['not JSON', apply('users: [carol]'), INVALID_JSON],
    ['YAML (Content-Type: application/yaml)', apply('users:\n  - carol\n', '', { headers: [['Content-Type', 'application/yaml']] }), INVALID_JSON],
    ['an array', apply(json([current])), invalid(FILE_MAPPING)],
    ['null', apply('null'), invalid(FILE_MAPPING)],
    ['a JSON string', apply('"users"'), invalid(FILE_MAPPING)],
    ['an unknown key', apply(file({ admins: ['mallory'] })), invalid('unknown key "admins": the file holds users, tokens and grants')],
    ['an unknown key __proto__', apply(`{"__proto__":{"users":[]},${json(current).slice(1)}`), invalid('unknown key "__proto__": the file holds users, tokens and grants')],
    ['users a string', apply(file({ users: 'carol' })), invalid('users must be a list')],
    ['users an array-like object', apply(file({ users: { 0: 'carol', length: 1 } })), invalid('users must be a list')],
    ['tokens a number', apply(file({ tokens: 4 })), invalid('tokens must be a list')],
    ['grants an object', apply(file({ grants: { role: 'admin' } })), invalid('grants must be a list')],
    ['10,001 users', apply(file({ users: Array.from({ length: 10_001 }, () => 0) })), invalid('users holds more than 10000 entries')],
    ['a user named token', apply(withUser('token')), invalid(`users[${nextUser}]: ${reservedMessage('token')}`)],
    ['a user named oidc', apply(withUser('oidc')), invalid(`users[${nextUser}]: ${reservedMessage('oidc')}`)],
    ['a user name with a space', apply(withUser('mal lory')), invalid(`users[${nextUser}]: ${userNameMessage('mal lory')}`)],
    ['a user name with a control character', apply(withUser('mal\u0007lory')), invalid(`users[${nextUser}]: ${userNameMessage('mal\u0007lory')}`)],
    ['a user name of 65 characters', apply(withUser('m'.repeat(65))), invalid(`users[${nextUser}]: ${userNameMessage('m'.repeat(65))}`)],
    ['a user name that is a number', apply(withUser(42)), invalid(`users[${nextUser}]: ${userNameMessage(bare('42'))}`)],
    ['a user name that is an object', apply(withUser({ name: 'mallory' })), invalid(`users[${nextUser}]: ${userNameMessage(A_MAPPING)}`)],
    ['a user name nested 30,000 levels deep', apply(`{"users":[${deep(30_000)}]}`), invalid(`users[0]: ${userNameMessage(A_LIST)}`)],
    ['a user listed twice', apply(withUser('carol')), invalid('carol is listed twice')],
    ['a token listed twice', apply(withToken('reader')), invalid('reader is listed twice')],
    ['a token entry that is a number', apply(withToken(7)), invalid(`tokens[${nextToken}] must be a name or {name, expires}`)],
    ['a token entry that is a list', apply(withToken(['ci'])), invalid(`tokens[${nextToken}] must be a name or {name, expires}`)],
    ['a token name with a space', apply(withToken('ci deploy')), invalid(`tokens[${nextToken}]: ${tokenNameMessage('ci deploy')}`)],
    ['a token name of 65 characters', apply(withToken({ name: 't'.repeat(65) })), invalid(`tokens[${nextToken}]: ${tokenNameMessage('t'.repeat(65))}`)],
    ['a token name nested 30,000 levels deep', apply(`{"tokens":[{"name":${deep(30_000)}}]}`), invalid(`tokens[0]: ${tokenNameMessage(A_LIST)}`)],
    ['a token that expires "soon"', apply(withToken({ name: 'ci', expires: 'soon' })), invalid(fileExpiresMessage(nextToken, 'soon'))],
    ['a token that expires 30d (no durations in a file)', apply(withToken({ name: 'ci', expires: '30d' })), invalid(fileExpiresMessage(nextToken, '30d'))],
    ['a token that expires true', apply(withToken({ name: 'ci', expires: true })), invalid(fileExpiresMessage(nextToken, bare('true')))],
    // JavaScript's Date reads 42 as the year 2042, "7" as July 2001 and February 30 as March 2: none of them is a time.
    // The first is applied for real (accepted, it makes a token); the others, which may be accepted too, as dry runs.
    ['a token that expires 42 (a number)', apply(withToken({ name: 'ci-42', expires: 42 })), invalid(fileExpiresMessage(nextToken, bare('42')))],
    ['a token that expires "7" (dry run)', apply(withToken({ name: 'ci-7', expires: '7' }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, '7'))],
    ['a token that expires February 30 (dry run)', apply(withToken({ name: 'ci-feb', expires: '2099-02-30T00:00:00Z' }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, '2099-02-30T00:00:00Z'))],
    ['a token that expires without an offset (dry run)', apply(withToken({ name: 'ci-local', expires: '2099-06-30T00:00:00' }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, '2099-06-30T00:00:00'))],
    ['a token that expires on a date without a time (dry run)', apply(withToken({ name: 'ci-date', expires: '2099-06-30' }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, '2099-06-30'))],
    ['a token that expires at hour 24 (dry run)', apply(withToken({ name: 'ci-h24', expires: '2099-06-30T24:00:00Z' }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, '2099-06-30T24:00:00Z'))],
    ['a token that expires at a time followed by 50 spaces (dry run)', apply(withToken({ name: 'ci-long', expires: `2099-06-30T00:00:00Z${' '.repeat(50)}` }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, `2099-06-30T00:00:00Z${' '.repeat(50)}`))],
    ['a token expiry nested 30,000 levels deep', apply(`{"tokens":[{"name":"ci","expires":${deep(30_000)}}]}`, '?dry_run=true'), invalid(fileExpiresMessage(0, A_LIST))],
    ['a token expiry that is a mapping (dry run)', apply(withToken({ name: 'ci-map', expires: { days: 30 } }), '?dry_run=true'), invalid(fileExpiresMessage(nextToken, A_MAPPING))],
    ['a token entry with an unknown field (expire, a typo; dry run)', apply(withToken({ name: 'ci-typo', expire: '2099-01-01T00:00:00Z' }), '?dry_run=true'), invalid(`tokens[${nextToken}]: unknown field "expire"; expected name, expires`)],
    ['a token entry with an unknown field (secret; dry run)', apply(withToken({ name: 'ci-secret', secret: ctx.secrets.reader }), '?dry_run=true'), invalid(`tokens[${nextToken}]: unknown field "secret"; expected name, expires`)],
    ['a grant entry with an unknown field (expires; dry run)', apply(withGrant({ role: 'read', subject: 'user:carol', glob: 'team-*', expires: '2099-01-01T00:00:00Z' }), '?dry_run=true'), invalid(`grants[${nextGrant}]: unknown field "expires"; expected role, subject, glob`)],
    ['a grant entry with an unknown field (a misspelt glob)', apply(withGrant({ role: 'admin', subject: 'user:carol', globs: '*' })), invalid(`grants[${nextGrant}]: unknown field "globs"; expected role, subject, glob`)],
    ['a grant entry that is a string', apply(withGrant('admin user:carol *')), invalid(`grants[${nextGrant}] must be {role, subject, glob}`)],
    ['a grant with role root', apply(withGrant({ role: 'root', subject: 'user:carol', glob: '*' })), invalid(`grants[${nextGrant}]: ${roleMessage('root')}`)],
    ['a grant with role nested 30,000 levels deep', apply(`{"grants":[{"role":${deep(30_000)},"subject":"user:carol","glob":"*"}]}`), invalid(`grants[0]: ${roleMessage(A_LIST)}`)],
    ['a grant to group:ops', apply(withGrant({ role: 'read', subject: 'group:ops', glob: '*' })), invalid(`grants[${nextGrant}]: ${subjectFormMessage('group:ops')}`)],
    ['a grant to user:', apply(withGrant({ role: 'read', subject: 'user:', glob: '*' })), invalid(`grants[${nextGrant}]: user ${NAME_RULE}`)],
    ['a grant to oidc:', apply(withGrant({ role: 'read', subject: 'oidc:', glob: '*' })), invalid(`grants[${nextGrant}]: ${OIDC_SUBJECT_MESSAGE}`)],
    ['a grant with a glob holding a space', apply(withGrant({ role: 'read', subject: 'user:carol', glob: 'prod *' })), invalid(`grants[${nextGrant}]: ${GLOB_MESSAGE}`)],
    ['a grant to an OIDC issuer not configured', apply(withGrant({ role: 'admin', subject: 'oidc:evil:sub=deploy-admin', glob: '*' })), invalid(untrustedIssuerMessage('oidc:evil:sub=deploy-admin', ctx))],
    ['a grant to an OIDC issuer not configured (dry run)', apply(withGrant({ role: 'read', subject: 'oidc:https://evil.example', glob: '*' }), '?dry_run=true'), invalid(untrustedIssuerMessage('oidc:https://evil.example', ctx))],
    ['a grant to a user not in the file', apply(withGrant({ role: 'admin', subject: 'user:mallory', glob: '*' })), unknownSubject('user:mallory')],
    ['a grant to a token not in the file', apply(withGrant({ role: 'admin', subject: 'token:revoked', glob: '*' })), unknownSubject('token:revoked')],
    ['a grant to a user the same file removes', apply(json({ ...current, users: current.users.filter((u) => u !== 'carol') })), unknownSubject('user:carol')],
    ['dry_run=yes', apply(json(current), '?dry_run=yes'), DRY_RUN],
    ['dry_run=TRUE', apply(json(current), '?dry_run=TRUE'), DRY_RUN],
    ['dry_run=1', apply(json(current), '?dry_run=1'), DRY_RUN],
    ['dry_run empty', apply(json(current), '?dry_run='), DRY_RUN],
    ['dry_run given twice', apply(json({ users: [], tokens: [], grants: [] }), '?dry_run=true&dry_run=false'), DRY_RUN],
    ['dry_run=%FF', apply(json(current), '?dry_run=%FF'), BAD_QUERY],
    ['dry_run=true with a bad file', apply(withUser('token'), '?dry_run=true'), invalid(`users[${nextUser}]: ${reservedMessage('token')}`)],
    ['dry_run=true with a grant to nobody', apply(withGrant({ role: 'admin', subject: 'user:nobody', glob: '*' }), '?dry_run=true'), unknownSubject('user:nobody')],
    ['nested 100,000 levels deep (over 64 KiB)', apply(`{"users":${deep(100_000)}}`), TOO_LARGE],
    ['a body over 64 KiB', apply(withUser('m'.repeat(70_000))), TOO_LARGE],
    ['an invalid UTF-8 byte', apply(withBytes('{"users":["carol","dave","mal@@"]}', [0xff])), INVALID_UTF8],
    ['UTF-16LE (NUL bytes are UTF-8)', apply(Buffer.from(json(current), 'utf16le')), INVALID_JSON],
    ['Content-MD5 of other bytes', withMd5(apply(json(current)), md5Base64(Buffer.from('other'))), md5Mismatch(json(current))],
    ['Content-MD5 of other bytes on a dry run', withMd5(apply(json(current), '?dry_run=true'), md5Base64(Buffer.from('other'))), md5Mismatch(json(current))],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `POST /access/apply: ${kind}`, request, expect }));
};

const lists = (): Case[] => {
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['GET /access/users with a query that is not UTF-8', get('/access/users?format=%FF'), BAD_QUERY],
    ['GET /access/tokens with a bad query key', get('/access/tokens?%C0%AF=1'), BAD_QUERY],
    ['GET /access/grants with a lone %', get('/access/grants?glob=%'), BAD_QUERY],
    ['GET one user', get('/access/users/carol'), noRoute('GET', '/access/users/carol')],
    ['GET one token', get('/access/tokens/reader'), noRoute('GET', '/access/tokens/reader')],
    ['GET /access', get('/access'), noRoute('GET', '/access')],
    ['PUT /access/grants', send('PUT', '/access/grants', json({ role: 'admin', subject: 'token:reader', glob: '*' })), noRoute('PUT', '/access/grants')],
    ['PATCH /access/users', send('PATCH', '/access/users', json({ name: 'mallory' })), noRoute('PATCH', '/access/users')],
    ['DELETE /access/users', send('DELETE', '/access/users'), noRoute('DELETE', '/access/users')],
    ['DELETE /access/tokens', send('DELETE', '/access/tokens'), noRoute('DELETE', '/access/tokens')],
    ['POST /access/users/carol', send('POST', '/access/users/carol', json({ password: 'taken-over-password' })), noRoute('POST', '/access/users/carol')],
    ['GET /access/apply', get('/access/apply'), noRoute('GET', '/access/apply')],
    ['PUT /access/apply', send('PUT', '/access/apply', json({ users: [], tokens: [], grants: [] })), noRoute('PUT', '/access/apply')],
    ['LOCK /access/users', send('LOCK', '/access/users'), noRoute('LOCK', '/access/users')],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `routes: ${kind}`, request, expect }));
};

const outputs = (ctx: Ctx): Case[] => {
  const { secrets, jwts } = ctx;
  const as = (authorization: string) => ({ auth: authorization });
  const outputsOnly = as(basicAuth('token', secrets.outputsOnly));
  // A caller who may read the state is told what to do instead (422); an outputs-only caller is refused (403).
  const encrypted = exact(403, 'forbidden', "state enc is encrypted with OpenTofu's state encryption: the server cannot read its outputs, so reading it needs the read role");
  const encryptedForReader = exact(422, 'encrypted_state', "state enc is encrypted with OpenTofu's state encryption: the server cannot read its outputs; read the whole state instead");
  const nameMessage = (got: string) =>
    `name must be ${STATE_NAME_RULE}; got ${JSON.stringify(got.length > 64 ? `${got.slice(0, 64)}...` : got)}`;
  const cases: Array<[string, HostileRequest, Expect]> = [
    ['a name starting with a dot', get('/states/.app/outputs'), bad('invalid_name', nameMessage('.app'))],
    ['a name of 129 characters', get(`/states/${'a'.repeat(129)}/outputs`), bad('invalid_name', nameMessage('a'.repeat(129)))],
    ['a name with an encoded ../', get('/states/app%2F..%2Fenc/outputs'), bad('invalid_name', nameMessage('app/../enc'))],
    ['a name with a NUL', get('/states/app%00/outputs'), bad('invalid_name', nameMessage('app\u0000'))],
    ['a name that is not UTF-8', get('/states/%FF/outputs'), BAD_PATH],
    ['a query that is not UTF-8', get('/states/app/outputs?at=%FF'), BAD_QUERY],
    ['a state that does not exist', get('/states/nowhere/outputs'), exact(404, 'not_found', 'state nowhere has no current version')],
    ['an encrypted state, as alice', get('/states/enc/outputs'), encryptedForReader],
    ['an encrypted state, as a read token', get('/states/enc/outputs', as(`Bearer ${secrets.reader}`)), encryptedForReader],
    ['an encrypted state, as an outputs token', get('/states/enc/outputs', outputsOnly), encrypted],
    ['a state outside the outputs token globs', get('/states/team-x/outputs', outputsOnly), hidden('team-x')],
    ['a state name that is a glob of the outputs token', get('/states/app*/outputs', outputsOnly), bad('invalid_name', nameMessage('app*'))],
    ['a state the team admin token has no role on', get('/states/app/outputs', as(`Bearer ${secrets.teamAdmin}`)), hidden('app')],
    ['a state that does not exist, as the team admin token', get('/states/nowhere/outputs', as(`Bearer ${secrets.teamAdmin}`)), hidden('nowhere')],
    ['a state the near-miss OIDC caller has no role on', get('/states/app/outputs', as(basicAuth('oidc', jwts.nearMiss))), hidden('app')],
    ['the full state, as an outputs token with ?at=', get('/states/app?at=2099-01-01T00:00:00Z', outputsOnly), exact(403, 'forbidden', 'reading state app at a past time needs the read role; this identity may read only its current outputs')],
    ['the versions, as an outputs token', get('/states/app/versions', outputsOnly), exact(403, 'forbidden', 'this needs the read role on state app; token:outputs-only has outputs')],
    // A write to a sub-resource that takes none reads as a nested name holding a reserved word.
    ['POST /states/app/outputs', send('POST', '/states/app/outputs', '{}'), bad('invalid_name', '"outputs" names a sub-resource and cannot be a segment of a state name')],
    ['DELETE /states/app/outputs', send('DELETE', '/states/app/outputs'), bad('invalid_name', '"outputs" names a sub-resource and cannot be a segment of a state name')],
    ['one segment too many', get('/states/app/outputs/greeting/value'), noRoute('GET', '/states/app/outputs/greeting/value')],
  ];
  return cases.map(([kind, request, expect]) => ({ kind: `GET /states/NAME/outputs: ${kind}`, request, expect }));
};

/** The guards in front of every route, on the access routes. */
const guards = (ctx: Ctx): Case[] => {
  const evil = 'https://evil.example';
  const foreign = exact(403, 'foreign_origin', `state-changing requests from web pages of ${evil} are refused; add the origin to ALLOWED_ORIGINS to allow them`);
  const withHeader = (name: string, value: string, request: HostileRequest): HostileRequest => ({ ...request, headers: [...(request.headers ?? []), [name, value]] });
  const routes = damaging(ctx).filter(([label]) => !label.startsWith('GET'));
  const cases: Case[] = [
    ...routes.map(([label, request]): Case => ({ kind: `guard: a foreign Origin (${label})`, request: withHeader('Origin', evil, request), expect: foreign })),
    {
      kind: 'guard: Origin null (POST a grant)',
      request: withHeader('Origin', 'null', postGrant(json({ role: 'admin', subject: 'token:reader', glob: '*' }))),
      expect: exact(403, 'foreign_origin', 'state-changing requests from web pages of null are refused; add the origin to ALLOWED_ORIGINS to allow them'),
    },
    {
      kind: 'guard: Content-Encoding gzip (POST /access/users)',
      request: withHeader('Content-Encoding', 'gzip', postUser(json({ name: 'mallory' }))),
      expect: exact(415, 'unsupported_encoding', 'Content-Encoding gzip is not accepted; send the body uncompressed'),
    },
    {
      kind: 'guard: Content-Encoding br (POST /access/apply)',
      request: withHeader('Content-Encoding', 'br', apply(json({ users: [], tokens: [], grants: [] }))),
      expect: exact(415, 'unsupported_encoding', 'Content-Encoding br is not accepted; send the body uncompressed'),
    },
    {
      kind: 'guard: a grant body that stalls',
      request: { ...postGrant(json({ role: 'admin', subject: 'token:reader', glob: '*' })), stallAfter: 10 },
      expect: exact(408, 'request_timeout', 'the request did not arrive in full within 1.5 s'),
      waitMs: 8000,
    },
    {
      kind: 'guard: an apply body cut short, the client gone',
      request: { ...apply(json({ users: [], tokens: [], grants: [] })), abortAfter: 12 },
      expect: { noReply: true },
    },
  ];
  return cases;
};

// ---------------------------------------------------------------------------------------------
// Checks

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A clear JSON error: {error, message} and nothing else, a one-line sentence, no dump or stack; exactly `body` when given. */
const checkJsonError = (t: Test, reply: RawReply, expect: Exclude<Expect, { noReply: true }>) => {
  const statuses = typeof expect.status === 'number' ? [expect.status] : expect.status;
  if (statuses.length === 1) t.equal(reply.status, statuses[0], 'status');
  else t.ok(statuses.includes(reply.status), `status ${reply.status} is one of ${statuses.join(', ')}`);
  t.ok(reply.status >= 400 && reply.status < 500, `a 4xx, not ${reply.status}${reply.status >= 400 && reply.status < 500 ? '' : `: ${reply.body.toString('utf8').slice(0, 300)}`}`);
  t.match(reply.headers['content-type'] ?? '(none)', /^application\/json(;|$)/, 'Content-Type: application/json');
  t.equal(reply.headers['x-content-type-options'], 'nosniff', 'X-Content-Type-Options: nosniff');
  const body = reply.json;
  t.strictSame(isRecord(body) ? Object.keys(body).sort() : body === undefined ? reply.body.toString('latin1').slice(0, 200) : body, ['error', 'message'], 'the body is {error, message}');
  if (!isRecord(body)) return;
  t.match(body.error, /^[a-z][a-z0-9_]*$/, 'error is a code');
  const message = typeof body.message === 'string' ? body.message : '';
  t.ok(message.length >= 10 && message.length <= 500 && !message.includes('\n'), `message is one sentence: ${JSON.stringify(message.slice(0, 200))}`);
  t.notMatch(message, DUMP, 'message is no codec or parser dump');
  t.notMatch(message, STACK, 'message has no stack trace');
  if (expect.body !== undefined) t.strictSame(body, expect.body, 'the exact body');
  if (expect.error !== undefined) t.equal(body.error, expect.error, 'error code');
  if (expect.says !== undefined) t.match(message, expect.says, 'message names the field');
  if (expect.not !== undefined) t.notMatch(message, expect.not, 'message shows what the client sent, not its JavaScript rendering');
  if (reply.status === 401) t.equal(reply.headers['www-authenticate'], 'Basic realm="state-ledger", charset="UTF-8"', 'a Basic challenge');
};

const checkReply = (t: Test, reply: RawReply, expect: Expect) => {
  if ('noReply' in expect) return void t.ok(reply.status === 0 || (reply.status >= 400 && reply.status < 500), `no answer or a 4xx (got ${reply.status})`);
  checkJsonError(t, reply, expect);
};

/** The access as an administrator sees it, and the event counts: what no refused request may change. */
const snapshot = async (server: TestServer) => {
  const list = async (path: string) => {
    const reply = await server.request(path);
    return { status: reply.status, json: (await reply.json()) as Record<string, unknown> };
  };
  const tokenList = await list('/access/tokens');
  // A refused request made with a valid token is still a use of it: last_used_at may move, not its presence.
  const tokens = Array.isArray(tokenList.json.tokens)
    ? (tokenList.json.tokens as Array<Record<string, unknown>>).map((token) => ({ ...token, last_used_at: token.last_used_at !== null }))
    : tokenList.json;
  const feed = { all: 0, access: 0 };
  for (let after = 0; ; ) {
    const page = (await (await server.request(`/events?limit=1000${after > 0 ? `&after=${after}` : ''}`)).json()) as { events: Array<{ state: string }>; next: number };
    feed.all += page.events.length;
    feed.access += page.events.filter((event) => event.state === '$access').length;
    if (page.events.length < 1000) break;
    after = page.next;
  }
  const { rows } = await server.db.pool.query<{ events: string; access: string }>(
    "SELECT (SELECT count(*) FROM events)::text AS events, (SELECT count(*) FROM events WHERE stream_id = '$access')::text AS access",
  );
  return { users: await list('/access/users'), tokens: { status: tokenList.status, tokens }, grants: await list('/access/grants'), feed, table: rows[0] };
};

const stillServing = async (t: Test, server: TestServer) => {
  const live = await fetch(`${server.baseUrl}/livez`);
  t.equal(live.status, 200, '/livez answers');
  t.equal((await server.request('/access/users')).status, 200, 'an administrator still lists the users');
};

/** One subtest per case: the answer, then nothing changed since the previous case. */
const runGroup = (t: Test, ctx: Ctx, group: string, cases: readonly Case[]) =>
  runHostileCases(t, group, ctx.server.baseUrl, cases, {
    snapshot: () => snapshot(ctx.server),
    check: (t, reply, c) => checkReply(t, reply, c.expect),
    unchanged: 'users, tokens, grants, the $access event count',
    stillServing: (t) => stillServing(t, ctx.server),
  });

// ---------------------------------------------------------------------------------------------
// The fixture

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const makeJwts = async (issuer: TestOidcIssuer): Promise<Jwts> => {
  const now = Math.floor(Date.now() / 1000);
  const expiredAt = now - 3600;
  const claims = { iss: issuer.issuer, aud: TEST_AUDIENCE, sub: 'deploy-admin', exp: now + 300 };
  const unsigned = (header: Record<string, unknown>, signature = '') => `${b64json(header)}.${b64json(claims)}.${signature}`;
  const foreignJwk = issuer.foreignJwks.keys[0]!;
  return {
    teamBot: await issuer.sign({ sub: 'team-bot' }),
    nearMiss: await issuer.sign({ sub: 'deploy-admin-x' }),
    deployAdmin: await issuer.sign({ sub: 'deploy-admin' }),
    expired: await issuer.sign({ sub: 'deploy-admin' }, { expiresIn: expiredAt }),
    expiredAt: new Date(expiredAt * 1000).toISOString(),
    forged: await issuer.signWithForeignKey({ sub: 'deploy-admin' }),
    forgedKid: await issuer.signWithForeignKey({ sub: 'deploy-admin' }, { kid: 'evil' }),
    embeddedJwk: await new SignJWT({ sub: 'deploy-admin' })
      .setProtectedHeader({ alg: issuer.alg, jwk: { kty: foreignJwk.kty, n: foreignJwk.n, e: foreignJwk.e, crv: foreignJwk.crv, x: foreignJwk.x, y: foreignJwk.y } })
      .setIssuer(issuer.issuer)
      .setAudience(TEST_AUDIENCE)
      .setExpirationTime('5m')
      .sign(issuer.foreignKey),
    wrongAudience: await issuer.sign({ sub: 'deploy-admin' }, { audience: 'another-service' }),
    unknownIssuer: await issuer.sign({ sub: 'deploy-admin' }, { issuer: 'https://evil.example' }),
    noExp: await issuer.sign({ sub: 'deploy-admin' }, { expiresIn: null }),
    algNone: unsigned({ alg: 'none', typ: 'JWT' }),
    algNoneSigned: unsigned({ alg: 'none', typ: 'JWT' }, 'c2lnbmF0dXJl'),
    algNoneUpper: unsigned({ alg: 'NONE' }),
    hs256: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(JSON.stringify(issuer.jwks))),
  };
};

const fixture = async (t: Test, server: TestServer, issuer: TestOidcIssuer): Promise<Ctx> => {
  const call = async (method: string, path: string, body?: unknown) => {
    const reply = await server.request(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
    const text = await reply.text();
    t.ok(reply.status < 300, `fixture: ${method} ${path}${reply.status < 300 ? '' : ` -> ${reply.status} ${text.slice(0, 200)}`}`);
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  };
  await call('POST', '/access/users', { name: 'carol', password: CAROL_PW });
  await call('POST', '/access/users', { name: 'dave' });
  const secret = async (name: string) => String((await call('POST', '/access/tokens', { name })).secret);
  const secrets: Secrets = {
    reader: await secret('reader'),
    writer: await secret('writer'),
    teamAdmin: await secret('team-admin'),
    outputsOnly: await secret('outputs-only'),
    revoked: await secret('revoked'),
  };
  await call('DELETE', '/access/tokens/revoked');
  const grantList = [
    { role: 'read', subject: 'token:reader', glob: '*' },
    { role: 'write', subject: 'token:writer', glob: '*' },
    { role: 'admin', subject: 'token:team-admin', glob: 'team-*' },
    { role: 'outputs', subject: 'token:outputs-only', glob: 'app*' },
    { role: 'outputs', subject: 'token:outputs-only', glob: 'enc' },
    { role: 'read', subject: 'user:carol', glob: '*' },
    { role: 'write', subject: 'user:dave', glob: 'team-*' },
    { role: 'admin', subject: 'oidc:ci', glob: 'team-*' },
    { role: 'admin', subject: 'oidc:ci:sub=deploy-admin', glob: '*' },
  ];
  for (const g of grantList) await call('POST', '/access/grants', g);
  for (const [name, body] of [
    ['app', stateDocument(1, LINEAGE)],
    ['app', stateDocument(2, LINEAGE)],
    ['enc', encryptedDocument(1)],
    ['team-x', stateDocument(1, 'c0ffee00-0000-4000-8000-0000000000b2')],
  ] as const) {
    t.equal((await server.request(`/states/${name}`, { method: 'POST', body: body.toString() })).status, 200, `fixture: push ${name}`);
  }
  const jwts = await makeJwts(issuer);
  // Warm every caller (token last-used times, scrypt, the issuer's keys), so that the cases' snapshots are stable.
  for (const authorization of [`Bearer ${secrets.reader}`, `Bearer ${secrets.writer}`, `Bearer ${secrets.teamAdmin}`, basicAuth('token', secrets.outputsOnly), basicAuth('carol', CAROL_PW), `Bearer ${jwts.teamBot}`]) {
    t.equal((await fetch(`${server.baseUrl}/states`, { headers: { authorization } })).status, 200, 'fixture: the caller logs in');
  }
  for (let i = 0; i < 100; i++) {
    const { tokens } = (await (await server.request('/access/tokens')).json()) as { tokens: Array<{ last_used_at: string | null }> };
    if (tokens.every((token) => token.last_used_at !== null)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const { host } = new URL(server.baseUrl);
  return {
    server,
    origin: `http://${host}`,
    issuer,
    secrets,
    jwts,
    current: { users: ['carol', 'dave'], tokens: ['outputs-only', 'reader', 'team-admin', 'writer'], grants: grantList },
  };
};

// ---------------------------------------------------------------------------------------------

t.test('hostile input on the access routes', async (t) => {
  const issuer = await startOidcIssuer(t);
  const server = await startServer(t, {
    // Failed logins are hostile input here, not the subject (hostile-input.test.ts tests the lockout).
    traffic: { loginFailuresPerMinute: 1_000_000, bodyIdleTimeoutMs: 1500, requestTimeoutMs: 1500, headersTimeoutMs: 2000 },
    oidc: oidcVerifier([{ issuer: issuer.issuer, audience: [TEST_AUDIENCE], name: 'ci' }]),
  });
  const ctx = await fixture(t, server, issuer);

  const groups: Array<[string, Case[]]> = [
    ['authentication', authentication(ctx)],
    ['callers who may not manage access', wrongRoles(ctx)],
    ['POST /access/users', users()],
    ['PUT /access/users/USER/password', passwords()],
    ['DELETE /access/users/USER', userRemovals()],
    ['POST /access/tokens, DELETE /access/tokens/TOKEN', tokens(ctx)],
    ['POST and DELETE /access/grants', grants(ctx)],
    ['POST /access/apply', applies(ctx)],
    ['the lists, and routes that are not there', lists()],
    ['GET /states/NAME/outputs', outputs(ctx)],
    ['origin, encoding and framing guards', guards(ctx)],
  ];
  const kinds = groups.flatMap(([, cases]) => cases.map((c) => c.kind));

  t.test('the checks can fail: good requests through the same paths change the snapshot, and the callers work', async (t) => {
    const { secrets, jwts } = ctx;
    t.strictSame(
      (await sendRaw(server.baseUrl, apply(JSON.stringify(ctx.current), '?dry_run=true'))).json,
      { dry_run: true, changes: [], secrets: [] },
      'the apply cases start from the current access: applying it changes nothing',
    );
    let before = await snapshot(server);
    const changes = async (label: string, request: HostileRequest, status: number) => {
      const reply = await sendRaw(server.baseUrl, request);
      t.equal(reply.status, status, `${label}: ${reply.body.toString('utf8').slice(0, 200)}`);
      const after = await snapshot(server);
      t.notSame(after, before, `${label} shows in the snapshot`);
      before = after;
      return reply;
    };
    // Any Content-Type is read as JSON.
    await changes('a user, sent as text/plain', postUser(JSON.stringify({ name: 'scratch-user', password: 'scratch-password' }), { headers: [['Content-Type', 'text/plain']] }), 201);
    await changes('a password change', putPassword('scratch-user', JSON.stringify({ password: 'scratch-password-2' })), 200);
    const token = await changes('a token expiring in 30d', postToken(JSON.stringify({ name: 'scratch-token', expires: '30d' })), 201);
    t.match(token.json, { name: 'scratch-token', secret: /^slt_[A-Za-z0-9_-]{43}$/ }, 'the secret');
    // The server's own Origin may manage access: the foreign-origin refusals are about the origin.
    await changes('a grant, sent with the server\'s own Origin', postGrant(JSON.stringify({ role: 'read', subject: 'token:scratch-token', glob: 'scratch-*' }), { headers: [...JSON_TYPE, ['Origin', ctx.origin]] }), 200);
    await changes('the grant revoked', deleteGrant(JSON.stringify({ role: 'read', subject: 'token:scratch-token', glob: 'scratch-*' })), 200);
    await changes('the token revoked', send('DELETE', '/access/tokens/scratch-token'), 200);
    await changes('the user removed', send('DELETE', '/access/users/scratch-user'), 200);
    await changes('an apply adding a user', apply(JSON.stringify({ ...ctx.current, users: [...ctx.current.users, 'scratch-applied'] })), 200);
    await changes('an apply removing it', apply(JSON.stringify(ctx.current)), 200);
    // The callers the role cases use work, so their 403s are about the role.
    const as = (authorization: string, path: string) => sendRaw(server.baseUrl, get(path, { auth: authorization }));
    t.equal((await as(`Bearer ${jwts.deployAdmin}`, '/access/users')).status, 200, 'the OIDC caller with sub=deploy-admin manages access');
    t.equal((await as(basicAuth('oidc', jwts.deployAdmin), '/access/grants')).status, 200, '... also as Basic oidc:');
    t.equal((await as(`Bearer ${secrets.teamAdmin}`, '/states/team-x/versions')).status, 200, 'the team admin token reads team-x');
    t.equal((await as(`Bearer ${jwts.nearMiss}`, '/states/team-x/versions')).status, 200, 'the near-miss OIDC caller reads team-x');
    t.equal((await as(`Bearer ${secrets.reader}`, '/states/app')).status, 200, 'the read token reads app');
    t.equal((await as(basicAuth('carol', CAROL_PW), '/states/app')).status, 200, 'carol reads app');
    const outputsReply = await as(basicAuth('token', secrets.outputsOnly), '/states/app/outputs');
    t.equal(outputsReply.status, 200, 'the outputs token reads the outputs of app');
    t.match(outputsReply.json, { name: 'app', version: 2, serial: 2, lineage: LINEAGE, outputs: { greeting: { value: 'hello 2' } } });
  });

  for (const [group, cases] of groups) await runGroup(t, ctx, group, cases);

  t.test('$access events are shown only to callers who manage access', async (t) => {
    const accessEvents = async (authorization: string) => {
      const reply = await sendRaw(server.baseUrl, get('/events?limit=1000', { auth: authorization }));
      t.equal(reply.status, 200);
      return (reply.json as { events: Array<{ state: string; data: unknown }> }).events.filter((event) => event.state === '$access');
    };
    const shown = await accessEvents(basicAuth('alice', 'correct horse battery staple'));
    t.ok(shown.length > 0, 'alice sees them');
    t.notMatch(JSON.stringify(shown.map((event) => event.data)), /scrypt|secret_sha256|"hash"|"salt"/, 'no password or token hash in their data');
    for (const [who, authorization] of [
      ['the read token', `Bearer ${ctx.secrets.reader}`],
      ['the team admin token', `Bearer ${ctx.secrets.teamAdmin}`],
      ['the near-miss OIDC caller', `Bearer ${ctx.jwts.nearMiss}`],
      ['carol', basicAuth('carol', CAROL_PW)],
    ] as const) {
      t.strictSame(await accessEvents(authorization), [], `${who} sees none`);
    }
  });

  t.test(`distinct kinds of bad input (${kinds.length})`, async (t) => {
    t.ok(kinds.length >= 300, `${kinds.length} kinds`);
    t.strictSame(kinds.filter((kind, i) => kinds.indexOf(kind) !== i), [], 'every kind is distinct');
  });
});
