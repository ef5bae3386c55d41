import fc from 'fast-check';
import t from 'tap';
import { globMatches, globToRegex, grantsFor } from '../../src/access/roles.js';
import { isStateName, stateNameProblem } from '../../src/events/state-name.js';
import { noPolicy, parseDuration, parseGlobPolicy, policyFor } from '../../src/policies/glob-policy.js';
import * as E from 'fp-ts/lib/Either.js';

const cases: Array<[glob: string, name: string, matches: boolean]> = [
  ['*', 'app', true],
  ['*', 'team-a/prod/network', true], // `*` alone: every state
  ['prod-*', 'prod-eu', true],
  ['prod-*', 'prod-eu/db', false], // `*` stays within a segment
  ['team-a/*', 'team-a/app', true],
  ['team-a/*', 'team-a/prod/app', false],
  ['team-a/*', 'team-a', false],
  ['team-a/**', 'team-a/prod/app', true],
  ['team-a/**', 'team-a/app', true],
  ['team-a/**', 'team-a', true], // `**` matches no segment too
  ['team-a/**', 'team-ab/app', false],
  ['**/network', 'team-a/prod/network', true],
  ['**/network', 'network', true],
  ['**/network', 'team-a/network-b', false],
  ['team-*/**/db', 'team-a/x/y/db', true],
  ['team-*/**/db', 'team-a/db', true],
  ['team-*/**/db', 'other/x/db', false],
  ['**', 'a/b/c', true],
  ['a.b', 'axb', false], // `.` is literal
  ['a*b*c', 'aXbYc', true],
  ['a*b*c', 'aXbY/c', false],
];

t.test('OIDC claim values keep `*` spanning `/`: they are no state names', async (t) => {
  const identity = { kind: 'oidc' as const, issuers: ['gitlab'], claims: { sub: 'repo:acme/infra:ref:refs/heads/main', project_path: 'acme/platform/infra' } };
  const grant = (claims: string) => grantsFor([{ role: 'write', subject: `oidc:gitlab:${claims}`, glob: 'prod-*' }], identity);
  t.strictSame(grant('sub=repo:acme/*'), [{ role: 'write', glob: 'prod-*' }]);
  t.strictSame(grant('project_path=acme/*'), [{ role: 'write', glob: 'prod-*' }]);
  t.strictSame(grant('project_path=other/*'), []);
});

t.test('globs: `*` within a segment, `**` across segments, `*` alone every state', async (t) => {
  for (const [glob, name, matches] of cases) t.equal(globMatches(glob, name), matches, `${glob} ~ ${name}`);
});

t.test('the regular expression PostgreSQL filters with agrees with the matcher', async (t) => {
  for (const [glob, name, matches] of cases) t.equal(new RegExp(globToRegex(glob)).test(name), matches, `${glob} ~ ${name} as ${globToRegex(glob)}`);
  const segment = fc.constantFrom('a', 'b', 'ab', 'x.y', '*', 'a*', '*b', '**');
  const nameSegment = fc.constantFrom('a', 'b', 'ab', 'x.y', 'xay', 'aab');
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.array(nameSegment, { minLength: 1, maxLength: 5 }), (globParts, nameParts) => {
      const glob = globParts.join('/');
      const name = nameParts.join('/');
      return globMatches(glob, name) === new RegExp(globToRegex(glob)).test(name);
    }),
    { numRuns: 5000 },
  );
});

t.test('matching stays fast on hostile globs (no exponential backtracking)', async (t) => {
  const glob = `${'*a'.repeat(120)}/${'**/'.repeat(60)}x`;
  const name = `${'a'.repeat(128)}/${'b/'.repeat(190)}y`.slice(0, 512);
  const started = process.hrtime.bigint();
  t.equal(globMatches(glob, name), false);
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'answers at once');
});

t.test('state names: nested segments, reserved words, lengths', async (t) => {
  t.ok(isStateName('team-a/prod/network'));
  t.ok(isStateName('a'.repeat(128)));
  t.ok(isStateName(`${'a'.repeat(128)}/${'b'.repeat(128)}/${'c'.repeat(128)}/${'d'.repeat(125)}`), '512 characters');
  t.strictSame(stateNameProblem(`${'a'.repeat(128)}/${'b'.repeat(128)}/${'c'.repeat(128)}/${'d'.repeat(126)}`), 'it is longer than 512 characters');
  t.strictSame(stateNameProblem('team/lock'), '"lock" names a sub-resource and cannot be a segment of a state name after the first');
  t.strictSame(stateNameProblem('team/LOCK'), '"LOCK" names a sub-resource and cannot be a segment of a state name after the first', 'in any case');
  t.ok(isStateName('versions'), 'a flat name that is a sub-resource word stays valid (URLs are never split before the first segment)');
  t.ok(isStateName('events/prod'), 'also as the first segment of a nested name');
  t.strictSame(stateNameProblem('team//app'), 'it has an empty segment (a leading, trailing or doubled "/")');
  t.strictSame(stateNameProblem('/app'), 'it has an empty segment (a leading, trailing or doubled "/")');
  t.strictSame(stateNameProblem('team/.hidden'), 'the segment ".hidden" is not a valid one');
  t.strictSame(stateNameProblem(''), 'it is empty');
  t.notOk(isStateName(`team/${'a'.repeat(129)}`));
});

t.test('policies per glob: the first matching glob wins, a bare value is the fallback', async (t) => {
  const policy = parseGlobPolicy('2h,team-a/prod/*=off,team-a/**=30m', (raw) => (raw === 'off' ? E.right(null) : parseDuration(raw)));
  if (E.isLeft(policy)) return t.fail(policy.left);
  t.strictSame(policyFor(policy.right, 'team-a/prod/db'), null);
  t.strictSame(policyFor(policy.right, 'team-a/dev/db'), 1800);
  t.strictSame(policyFor(policy.right, 'other'), 7200);
  t.strictSame(policyFor(noPolicy, 'other'), undefined);
  t.strictSame(parseDuration('90'), E.right(90));
  t.strictSame(parseDuration('7d'), E.right(604800));
  t.strictSame(parseDuration('1.5h'), E.left('expected a duration such as 90s, 30m, 2h or 7d (at most 366d)'));
});
