import * as E from 'fp-ts/lib/Either.js';
import t from 'tap';
import type { StateEvent } from '../../src/events/events.js';
import { fold, initialState } from '../../src/commands/state.js';
import { parseRetention, parseRetentionValue, retentionFor } from '../../src/retention/policy.js';
import { storedBody } from '../support/commands.js';
import { given } from '../support/given.js';

const pushed = (version: number): StateEvent => {
  const b = storedBody(version);
  return {
    type: 'StatePushed',
    data: {
      version, lock_id: null, lock_operation: null, lock_who: null, lease_until: null,
      blob_key: b.blobKey, sha256: b.sha256, md5: b.md5, size: b.size, serial: b.serial, lineage: b.lineage,
      terraform_version: b.terraformVersion, encrypted: b.encrypted, resource_count: b.resourceCount, output_count: b.outputCount,
    },
  };
};
const key = (version: number) => storedBody(version).blobKey;
const pinned = (version: number, reason = 'audit'): StateEvent => ({ type: 'VersionPinned', data: { version, reason } });
const pruned = (version: number, policy = '2'): StateEvent => ({ type: 'VersionPruned', data: { version, blob_key: key(version), policy } });
const three = [pushed(1), pushed(2), pushed(3)];
const prune = (versions: number[], prunedSeen = 0) =>
  ({ type: 'PruneVersions', name: 'infra', candidates: versions.map((version) => ({ version, blobKey: key(version) })), policy: '2', prunedSeen }) as const;
const pin = (version: number, prunedSeen = 0, pruneFact: { at: string; policy: string } | null = null) =>
  ({ type: 'PinVersion', name: 'infra', version, reason: 'audit', prunedSeen, target: { version, pruned: pruneFact } }) as const;

t.test('prune: the candidates, except the current and the pinned versions', async (t) => {
  given(t, three).when(prune([1, 2])).then([pruned(1), pruned(2)]);
  given(t, three).when(prune([1, 2, 3])).then([pruned(1), pruned(2)]);
  given(t, [...three, pinned(1)]).when(prune([1, 2])).then([pruned(2)]);
  given(t, three).when(prune([1, 1, 9, 0])).then([pruned(1)]);
  given(t, [...three, { type: 'StateDeleted', data: { version: 3, lock_id: null } }]).when(prune([3])).then([pruned(3)]);
});

t.test('prune: facts read before another prune are refused as stale, so nothing is pruned twice', async (t) => {
  given(t, [...three, pruned(1)]).when(prune([1, 2], 0)).thenFails({ type: 'PruneStale', name: 'infra' });
  given(t, [...three, pruned(1)]).when(prune([2], 1)).then([pruned(2)]);
});

t.test('pin and unpin', async (t) => {
  given(t, three).when(pin(2)).then([pinned(2)]);
  given(t, [...three, pinned(2)]).when(pin(2)).then([]);
  given(t, three).when({ ...pin(4), target: null }).thenFails({ type: 'VersionNotFound', version: 4 });
  given(t, three).when({ ...pin(1, 1) }).thenFails({ type: 'PruneStale', name: 'infra' });
  given(t, [...three, pruned(1)])
    .when(pin(1, 1, { at: '2026-12-01T00:00:00.000Z', policy: '2' }))
    .thenFails({ type: 'VersionPruned', name: 'infra', version: 1, prunedAt: '2026-12-01T00:00:00.000Z', policy: '2' });
  given(t, [...three, pinned(2)]).when({ type: 'UnpinVersion', version: 2 }).then([{ type: 'VersionUnpinned', data: { version: 2 } }]);
  given(t, three).when({ type: 'UnpinVersion', version: 2 }).then([]);
  given(t, three).when({ type: 'UnpinVersion', version: 7 }).thenFails({ type: 'VersionNotFound', version: 7 });
});

t.test('the decider state stays small: a count of prunes, not the pruned versions', async (t) => {
  const state = fold([...three, pinned(2), pruned(1), { type: 'VersionUnpinned', data: { version: 2 } }, pinned(3)]);
  t.strictSame({ pinned: state.pinned, pruned: state.pruned }, { pinned: [3], pruned: 1 });
  t.strictSame({ pinned: initialState.pinned, pruned: initialState.pruned }, { pinned: [], pruned: 0 });
});

t.test('RETENTION values and globs', async (t) => {
  t.strictSame(parseRetentionValue('off'), E.right(null));
  t.strictSame(parseRetentionValue('10'), E.right({ keepLast: 10, keepSeconds: null, text: '10' }));
  t.strictSame(parseRetentionValue('90d'), E.right({ keepLast: null, keepSeconds: 90 * 86400, text: '90d' }));
  t.strictSame(parseRetentionValue('50+90d'), E.right({ keepLast: 50, keepSeconds: 90 * 86400, text: '50+90d' }));
  for (const bad of ['', '0', '-1', '5090d', '+90d', '50+', '10h', 'ten', '50+90d+1']) t.strictSame(E.isLeft(parseRetentionValue(bad)), true, bad);
  const policy = parseRetention('50+90d,prod/**=off,team-a/*=10');
  if (E.isLeft(policy)) throw new Error(policy.left);
  t.strictSame(retentionFor(policy.right, 'prod/db'), null);
  t.strictSame(retentionFor(policy.right, 'team-a/app'), { keepLast: 10, keepSeconds: null, text: 'team-a/*=10' });
  t.strictSame(retentionFor(policy.right, 'other'), { keepLast: 50, keepSeconds: 90 * 86400, text: '50+90d' });
  const none = parseRetention('prod/**=off');
  if (E.isLeft(none)) throw new Error(none.left);
  t.strictSame(retentionFor(none.right, 'other'), null);
});
