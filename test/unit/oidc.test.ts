import * as E from 'fp-ts/lib/Either.js';
import { base64url, decodeJwt, SignJWT } from 'jose';
import path from 'node:path';
import t from 'tap';
import { decodeOidcIssuers, type OidcIssuer } from '../../src/identity/oidc-issuers.js';
import { isJwtShaped, oidcVerifier, type OidcRefusal } from '../../src/identity/oidc.js';
import { closedPortUrl, startOidcIssuer, TEST_AUDIENCE, type TestOidcIssuer } from '../support/oidc-issuer.js';

const GITLAB_CLAIMS = {
  sub: 'project_path:platform/infra:ref_type:branch:ref:main',
  namespace_path: 'platform',
  project_path: 'platform/infra',
  ref: 'main',
  ref_type: 'branch',
  ref_protected: 'true',
  pipeline_source: 'push',
};

const configOf = (issuer: TestOidcIssuer, extra?: Partial<OidcIssuer>): OidcIssuer => ({
  issuer: issuer.issuer,
  audience: [TEST_AUDIENCE],
  name: 'gitlab',
  ...extra,
});

const kindOf = (result: E.Either<OidcRefusal, unknown>): string => (E.isLeft(result) ? result.left.kind : 'verified');
const reasonOf = (result: E.Either<OidcRefusal, unknown>): string => (E.isLeft(result) ? result.left.reason : '');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('a valid token gives its issuer, name and every claim', async (t) => {
  for (const alg of ['RS256', 'ES256'] as const) {
    const issuer = await startOidcIssuer(t, { alg });
    const verifier = oidcVerifier([configOf(issuer)]);
    const token = await issuer.sign(GITLAB_CLAIMS);
    const { iat, exp } = decodeJwt(token);
    t.strictSame(
      await verifier.verify(token),
      E.right({ issuer: issuer.issuer, name: 'gitlab', claims: { ...GITLAB_CLAIMS, iat, iss: issuer.issuer, aud: TEST_AUDIENCE, exp } }),
      alg,
    );
  }
});

t.test('discovery and the JWKS are fetched once, then cached', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)]);
  const results = await Promise.all([1, 2, 3].map(async (n) => kindOf(await verifier.verify(await issuer.sign({ sub: `job-${n}` })))));
  results.push(kindOf(await verifier.verify(await issuer.sign({ sub: 'job-4' }))));
  t.strictSame(results, ['verified', 'verified', 'verified', 'verified']);
  t.strictSame(issuer.hits, { discovery: 1, jwks: 1 });
});

t.test('one of several audiences, and a token with several audiences, are accepted', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer, { audience: ['other', TEST_AUDIENCE] })]);
  t.strictSame(kindOf(await verifier.verify(await issuer.sign({}, { audience: TEST_AUDIENCE }))), 'verified');
  t.strictSame(kindOf(await verifier.verify(await issuer.sign({}, { audience: ['vault', 'other'] }))), 'verified');
});

t.test('time: expired, not yet valid, and the clock tolerance', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)]);
  const expired = await verifier.verify(await issuer.sign({}, { expiresIn: '-2m' }));
  t.strictSame(kindOf(expired), 'expired');
  t.match(reasonOf(expired), /^the token expired at \d{4}-\d\d-\d\dT.*Z; request a fresh one$/);
  const early = await verifier.verify(await issuer.sign({}, { notBefore: '10m' }));
  t.strictSame(kindOf(early), 'not-yet-valid');
  t.match(reasonOf(early), /^the token is not valid before \d{4}-/);
  t.strictSame(kindOf(await verifier.verify(await issuer.sign({}, { expiresIn: '-10s' }))), 'verified', 'just expired: within 30 s');
  t.strictSame(kindOf(await verifier.verify(await issuer.sign({}, { notBefore: '10s' }))), 'verified', 'nbf 10 s ahead: within 30 s');
  const forever = await verifier.verify(await issuer.sign({}, { expiresIn: null }));
  t.strictSame(forever, E.left({ kind: 'invalid', reason: 'the token has no "exp" claim' }), 'a token that never expires is refused');
});

t.test('wrong audience', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)]);
  t.strictSame(
    await verifier.verify(await issuer.sign({}, { audience: 'https://vault.example.com' })),
    E.left({ kind: 'wrong-audience', reason: `the token's audience "https://vault.example.com" is not one this server accepts ("state-ledger")` }),
  );
});

t.test('wrong signature: a foreign key, an unknown kid', async (t) => {
  const issuer = await startOidcIssuer(t, { alg: 'ES256' });
  const verifier = oidcVerifier([configOf(issuer)]);
  t.strictSame(
    await verifier.verify(await issuer.signWithForeignKey(GITLAB_CLAIMS)),
    E.left({ kind: 'bad-signature', reason: `the token's signature does not verify with the keys of OIDC issuer "gitlab"` }),
  );
  const unknownKid = await verifier.verify(await issuer.signWithForeignKey({}, { kid: 'rotated-away' }));
  t.strictSame(unknownKid, E.left({ kind: 'bad-signature', reason: `no key of OIDC issuer "gitlab" matches the token (kid "rotated-away", alg "ES256")` }));
  const tampered = (await issuer.sign({ project_path: 'platform/infra' })).split('.');
  tampered[1] = base64url.encode(JSON.stringify({ ...decodeJwt(tampered.join('.')), project_path: 'attacker/repo' }));
  t.strictSame(kindOf(await verifier.verify(tampered.join('.'))), 'bad-signature', 'changed claims');
});

t.test('unknown issuer, named and bounded', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)]);
  t.strictSame(
    await verifier.verify(await issuer.sign({}, { issuer: 'https://token.actions.githubusercontent.com' })),
    E.left({
      kind: 'unknown-issuer',
      issuer: 'https://token.actions.githubusercontent.com',
      reason: `the token's issuer "https://token.actions.githubusercontent.com" is not an OIDC issuer this server accepts`,
    }),
  );
  const long = await verifier.verify(await issuer.sign({}, { issuer: `https://${'x'.repeat(1000)}\n` }));
  t.ok(E.isLeft(long) && long.left.kind === 'unknown-issuer' && long.left.issuer.length === 200 && !long.left.reason.includes('\n'));
  t.strictSame(issuer.hits, { discovery: 0, jwks: 0 }, 'no keys fetched for a foreign issuer');
});

t.test('alg none and HS256 are refused before any key is fetched', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)]);
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: issuer.issuer, aud: TEST_AUDIENCE, exp: now + 300, iat: now, sub: 'x' };
  const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(claims))}.`;
  t.ok(isJwtShaped(none));
  const refusedNone = await verifier.verify(none);
  t.strictSame(kindOf(refusedNone), 'invalid');
  t.match(reasonOf(refusedNone), /^the token's algorithm "none" is not accepted; only asymmetric signatures are \(RS256, /);
  const secret = new TextEncoder().encode('a shared secret that anyone with the JWKS might guess');
  const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secret);
  t.match(reasonOf(await verifier.verify(hs256)), /^the token's algorithm "HS256" is not accepted/);
  const noAlg = `${base64url.encode('{}')}.${base64url.encode(JSON.stringify(claims))}.c2ln`;
  t.match(reasonOf(await verifier.verify(noAlg)), /^the token's algorithm nothing is not accepted/);
  t.strictSame(issuer.hits, { discovery: 0, jwks: 0 });
});

t.test('garbage and oversized tokens', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)]);
  const notJwt = { kind: 'not-jwt', reason: 'the token is not a JWT (three base64url parts separated by dots)' };
  for (const garbage of ['', 'sl_api_0123456789abcdef', 'a.b', 'a.b.c.d', 'a b.c.d', 'eyJ.eyJ.sig=', '..']) {
    t.strictSame(await verifier.verify(garbage), E.left(notJwt), JSON.stringify(garbage));
  }
  const undecodable = { kind: 'not-jwt', reason: 'the token is not a JWT: its header or claims are not base64url-encoded JSON objects' };
  t.strictSame(await verifier.verify('a.b.c'), E.left(undecodable));
  t.strictSame(await verifier.verify(`${base64url.encode('{"alg":"RS256"}')}.${base64url.encode('[1,2]')}.c2ln`), E.left(undecodable));
  const valid = await issuer.sign({ padding: 'x'.repeat(17 * 1024) });
  t.ok(isJwtShaped(valid), 'an oversized JWT is still JWT-shaped');
  t.strictSame(await verifier.verify(valid), E.left({ kind: 'invalid', reason: 'the token is longer than 16384 characters' }));
  t.strictSame(issuer.hits, { discovery: 0, jwks: 0 });
  const withoutIss = `${base64url.encode('{"alg":"RS256"}')}.${base64url.encode('{"sub":"x"}')}.c2ln`;
  t.strictSame(await verifier.verify(withoutIss), E.left({ kind: 'invalid', reason: 'the token has no "iss" claim naming its issuer' }));
});

t.test('isJwtShaped tells a JWT from other tokens', async (t) => {
  t.strictSame(
    ['eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', 'a-_.b_-.', 'abc', 'a.b', 'a.b.c.d', 'a+b.c.d', 'a.b.c\n', '.b.c', 'a..c'].map(isJwtShaped),
    [true, true, false, false, false, false, false, false, false],
  );
});

t.test('a local jwks_file: the issuer is never asked', async (t) => {
  const issuer = await startOidcIssuer(t);
  const dir = t.testdir({ 'jwks.json': JSON.stringify(issuer.jwks), 'broken.json': '{"keys": "no"}' });
  const verifier = oidcVerifier([configOf(issuer, { jwksFile: path.join(dir, 'jwks.json') })]);
  t.strictSame(kindOf(await verifier.verify(await issuer.sign(GITLAB_CLAIMS))), 'verified');
  t.strictSame(kindOf(await verifier.verify(await issuer.signWithForeignKey(GITLAB_CLAIMS))), 'bad-signature');
  t.strictSame(issuer.hits, { discovery: 0, jwks: 0 });

  for (const file of ['missing.json', 'broken.json']) {
    const broken = oidcVerifier([configOf(issuer, { jwksFile: path.join(dir, file) })]);
    const result = await broken.verify(await issuer.sign());
    t.strictSame(kindOf(result), 'unavailable', file);
    t.match(E.isLeft(result) && result.left.kind === 'unavailable' ? result.left.detail : '', `the JWKS file ${path.join(dir, file)}`);
  }
});

t.test('several keys match a token without kid: each is tried', async (t) => {
  const issuer = await startOidcIssuer(t);
  const { kid: _kid, ...withoutKid } = issuer.jwks.keys[0] ?? {};
  const dir = t.testdir({ 'jwks.json': JSON.stringify({ keys: [...issuer.foreignJwks.keys, withoutKid] }) });
  const verifier = oidcVerifier([configOf(issuer, { jwksFile: path.join(dir, 'jwks.json') })]);
  t.strictSame(kindOf(await verifier.verify(await issuer.sign({}, { kid: null }))), 'verified');
  t.strictSame(kindOf(await verifier.verify(await issuer.signWithForeignKey({}, { kid: null }))), 'verified', 'the foreign key is in this JWKS');
  const other = await startOidcIssuer(t);
  const stranger = await other.sign({}, { kid: null, issuer: issuer.issuer });
  t.strictSame(kindOf(await verifier.verify(stranger)), 'bad-signature');
});

t.test('discovery down: unavailable, a dependency fault', async (t) => {
  const issuer = await startOidcIssuer(t);
  const down = await closedPortUrl();
  const verifier = oidcVerifier([{ issuer: down, audience: [TEST_AUDIENCE], name: 'gitlab' }], { timeoutMs: 2000 });
  const result = await verifier.verify(await issuer.sign({}, { issuer: down }));
  t.strictSame(kindOf(result), 'unavailable');
  t.strictSame(reasonOf(result), 'the signing keys of OIDC issuer "gitlab" cannot be fetched right now; try again later');
  t.match(E.isLeft(result) && result.left.kind === 'unavailable' ? result.left.detail : '', /fetch failed/);
});

t.test('a failed discovery is retried after the cooldown, not before', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)], { cooldownMs: 300 });
  issuer.setAvailable(false);
  const first = await verifier.verify(await issuer.sign());
  t.strictSame(kindOf(first), 'unavailable');
  t.match(E.isLeft(first) && first.left.kind === 'unavailable' ? first.left.detail : '', /answered HTTP 503$/);
  t.strictSame(kindOf(await verifier.verify(await issuer.sign())), 'unavailable');
  t.strictSame(issuer.hits, { discovery: 1, jwks: 0 }, 'within the cooldown the issuer is not asked again');
  issuer.setAvailable(true);
  await sleep(350);
  t.strictSame(kindOf(await verifier.verify(await issuer.sign())), 'verified');
  t.strictSame(issuer.hits, { discovery: 2, jwks: 1 });
});

t.test('the JWKS down after discovery: unavailable', async (t) => {
  const issuer = await startOidcIssuer(t);
  const verifier = oidcVerifier([configOf(issuer)], { cacheMaxAgeMs: 0 });
  t.strictSame(kindOf(await verifier.verify(await issuer.sign())), 'verified');
  issuer.setAvailable(false);
  const result = await verifier.verify(await issuer.sign());
  t.strictSame(kindOf(result), 'unavailable');
  t.match(E.isLeft(result) && result.left.kind === 'unavailable' ? result.left.detail : '', `the JWKS of ${issuer.issuer} cannot be fetched`);
});

t.test('a discovery document naming another issuer is not trusted', async (t) => {
  const issuer = await startOidcIssuer(t);
  const withSlash = `${issuer.issuer}/`;
  const verifier = oidcVerifier([{ issuer: withSlash, audience: [TEST_AUDIENCE], name: 'gitlab' }]);
  const result = await verifier.verify(await issuer.sign({}, { issuer: withSlash }));
  t.strictSame(kindOf(result), 'unavailable');
  t.match(E.isLeft(result) && result.left.kind === 'unavailable' ? result.left.detail : '', `names the issuer "${issuer.issuer}", not "${withSlash}"`);
});

t.test('decodeOidcIssuers: JSON and YAML', async (t) => {
  t.strictSame(
    decodeOidcIssuers('[{"issuer": "https://gitlab.example.com", "audience": "state-ledger", "name": "gitlab"}]'),
    E.right([{ issuer: 'https://gitlab.example.com', audience: ['state-ledger'], name: 'gitlab' }]),
  );
  const yaml = [
    'issuers:',
    '  - issuer: https://token.actions.githubusercontent.com',
    '    audience: [https://github.com/acme, state-ledger]',
    '  - issuer: https://gitlab.internal',
    '    audience: state-ledger',
    '    name: gitlab',
    '    jwks_file: /etc/state-ledger/gitlab-jwks.json',
    '  - issuer: http://127.0.0.1:9000',
    '    audience: test',
  ].join('\n');
  t.strictSame(
    decodeOidcIssuers(yaml),
    E.right([
      {
        issuer: 'https://token.actions.githubusercontent.com',
        audience: ['https://github.com/acme', 'state-ledger'],
        name: 'https://token.actions.githubusercontent.com',
      },
      { issuer: 'https://gitlab.internal', audience: ['state-ledger'], name: 'gitlab', jwksFile: '/etc/state-ledger/gitlab-jwks.json' },
      { issuer: 'http://127.0.0.1:9000', audience: ['test'], name: 'http://127.0.0.1:9000' },
    ]),
  );
  t.strictSame(decodeOidcIssuers('- issuer: "http://[::1]:8080"\n  audience: a\n'), E.right([{ issuer: 'http://[::1]:8080', audience: ['a'], name: 'http://[::1]:8080' }]));
  t.strictSame(decodeOidcIssuers('[]'), E.right([]));
  t.strictSame(decodeOidcIssuers('issuers: []'), E.right([]));
});

t.test('decodeOidcIssuers: one sentence naming the first wrong field', async (t) => {
  const cases: [string, string][] = [
    ['{"issuers": 3}', 'the OIDC issuers configuration must be a list of issuers, or a mapping with an "issuers" list'],
    ['', 'the OIDC issuers configuration must be a list of issuers, or a mapping with an "issuers" list'],
    ['issuers: []\nextra: 1', 'the OIDC issuers configuration has an unknown field "extra"; only "issuers" is allowed'],
    ['["https://gitlab.com"]', 'issuers[0] must be a mapping with the fields issuer and audience, got "https://gitlab.com"'],
    [
      '[{"issuer": "https://a.example", "audience": "x"}, {"audience": "x"}]',
      'issuers[1].issuer is missing; it must be an https URL (http only on 127.0.0.1, localhost or [::1]) without query or fragment',
    ],
    [
      '[{"issuer": "http://gitlab.example.com", "audience": "x"}]',
      'issuers[0].issuer must be an https URL (http only on 127.0.0.1, localhost or [::1]) without query or fragment, got "http://gitlab.example.com"',
    ],
    [
      '[{"issuer": "https://gitlab.example.com?x=1", "audience": "x"}]',
      'issuers[0].issuer must be an https URL (http only on 127.0.0.1, localhost or [::1]) without query or fragment, got "https://gitlab.example.com?x=1"',
    ],
    ['[{"issuer": "https://a.example"}]', 'issuers[0].audience is missing; it must be a non-empty string or a non-empty list of non-empty strings'],
    ['[{"issuer": "https://a.example", "audience": []}]', 'issuers[0].audience must be a non-empty string or a non-empty list of non-empty strings, got []'],
    [
      '[{"issuer": "https://a.example", "audience": ["x", ""]}]',
      'issuers[0].audience must be a non-empty string or a non-empty list of non-empty strings, got ["x",""]',
    ],
    [
      '[{"issuer": "https://a.example", "audience": "x", "name": "git lab"}]',
      'issuers[0].name must be a short name of up to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, got "git lab"',
    ],
    ['[{"issuer": "https://a.example", "audience": "x", "jwks_file": ""}]', 'issuers[0].jwks_file must be a non-empty file path, got ""'],
    [
      '[{"issuer": "https://a.example", "audience": "x", "audiences": ["y"]}]',
      'issuers[0] has an unknown field "audiences"; the fields are issuer, audience, name and jwks_file',
    ],
    [
      '- {issuer: "https://a.example", audience: x, name: ci}\n- {issuer: "https://b.example", audience: x, name: ci}',
      'issuers[1].name "ci" is already the name of issuers[0]; names must be unique',
    ],
    [
      '- {issuer: "https://a.example", audience: x}\n- {issuer: "https://a.example", audience: y, name: other}',
      'issuers[1].issuer "https://a.example" is already configured as issuers[0]',
    ],
  ];
  for (const [text, sentence] of cases) t.strictSame(decodeOidcIssuers(text), E.left(sentence), text);

  const badJson = decodeOidcIssuers('[{"issuer": "https://a.example", "audience": "x"}');
  t.match(badJson, E.left(/^the OIDC issuers configuration is not valid JSON: [^\n]+$/));
  const badYaml = decodeOidcIssuers('issuers:\n  - issuer: https://a.example\n   audience: x\n');
  t.match(badYaml, E.left(/^the OIDC issuers configuration is not valid YAML: [^\n]+$/));
  const aliases = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 12 }, (_, i) => `b${i}: [${Array(12).fill('*a').join(', ')}]`)];
  t.match(decodeOidcIssuers(aliases.join('\n')), E.left(/^the OIDC issuers configuration is not valid YAML: .*alias/i), 'an alias bomb');
});
