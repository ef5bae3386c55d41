import fc from 'fast-check';
import t from 'tap';
import { allFolders, buildTree, isFolder, openByDefault, PAGE, type Folder, type TreeState } from '../../src/console/web/state-tree.js';

interface Listed extends TreeState {
  readonly lock: { readonly stale: boolean } | null;
}

const state = (name: string, updated = '2026-12-01T00:00:00Z', lock: Listed['lock'] = null, size = 10): Listed => ({ name, size, updated_at: updated, lock });
const tree = (states: readonly Listed[]) => buildTree(states, (s) => s.lock?.stale === true);
const names = (folder: Folder<Listed>): string[] => folder.children.map((entry) => (isFolder(entry) ? `${entry.name}/` : entry.name.slice(entry.name.lastIndexOf('/') + 1)));

t.test('every state under the folders of its name, each folder summing up what it holds', async (t) => {
  const root = tree([
    state('team-a/prod/web', '2026-12-03T00:00:00Z', { stale: false }),
    state('team-a/prod/network', '2026-12-02T00:00:00Z', { stale: true }, 30),
    state('app'),
    state('team-a/dev'),
    state('team-b/x'),
  ]);
  t.strictSame(names(root), ['app', 'team-a/', 'team-b/'], 'code-unit order, folders among states');
  const teamA = root.children[1] as Folder<Listed>;
  t.strictSame(names(teamA), ['dev', 'prod/']);
  t.strictSame(
    { path: teamA.path, depth: teamA.depth, states: teamA.states, locked: teamA.locked, stale: teamA.stale, size: teamA.size, latest: teamA.latest?.name },
    { path: 'team-a/', depth: 0, states: 3, locked: 2, stale: 1, size: 50, latest: 'team-a/prod/web' },
  );
  t.strictSame([root.states, root.locked, root.stale], [5, 2, 1], 'the root sums up everything');
  t.strictSame(allFolders(root), ['team-a/', 'team-a/prod/', 'team-b/']);
});

t.test('a small fleet opens whole; a large one on its upper folders; a level opens whole or not at all', async (t) => {
  const small = tree(['a/b/c', 'a/b/d', 'e/f'].map((name) => state(name)));
  t.strictSame([...openByDefault(small, 60)].sort(), ['a/', 'a/b/', 'e/']);

  // 20 teams of 50 states under fleet/: 1 + 20 rows fit in 60, 1 + 20 + 1,000 do not.
  const fleet = tree(Array.from({ length: 1000 }, (_, i) => state(`fleet/team-${String(Math.floor(i / 50)).padStart(2, '0')}/svc-${String(i).padStart(4, '0')}`)));
  t.strictSame([...openByDefault(fleet, 60)], ['fleet/']);
  t.strictSame(openByDefault(fleet, 20).size, 0, 'not even the first level fits in 20 rows');

  // A folder of more than PAGE entries counts PAGE rows and the one that offers the rest.
  const wide = tree(Array.from({ length: PAGE + 50 }, (_, i) => state(`wide/s${String(i).padStart(4, '0')}`)));
  t.strictSame([...openByDefault(wide, PAGE + 2)], ['wide/']);
  t.strictSame(openByDefault(wide, PAGE + 1).size, 0);
});

t.test('property: every state is counted once in each folder above it, and the rows opened by default stay within the budget', async () => {
  const segment = fc.constantFrom('a', 'b', 'c', 'd');
  const names = fc.uniqueArray(fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')), { maxLength: 60 })
    // A name cannot also be a folder of another (`a` and `a/b`): the API's names are leaves.
    .map((list) => list.filter((name) => !list.some((other) => other.startsWith(`${name}/`))));
  fc.assert(
    fc.property(names, fc.integer({ min: 1, max: 80 }), (list, budget) => {
      const root = tree(list.map((name) => state(name)));
      const count = (folder: Folder<Listed>): number => folder.children.reduce((sum, entry) => sum + (isFolder(entry) ? count(entry) : 1), 0);
      const everyFolder = (folder: Folder<Listed>): Folder<Listed>[] => folder.children.filter(isFolder).flatMap((f) => [f, ...everyFolder(f)]);
      for (const folder of [root, ...everyFolder(root)]) {
        if (count(folder) !== folder.states) return false;
        if (folder.states !== list.filter((name) => name.startsWith(folder.path)).length) return false;
      }
      const open = openByDefault(root, budget);
      const shown = (folder: Folder<Listed>): number =>
        Math.min(folder.children.length, PAGE) + (folder.children.length > PAGE ? 1 : 0) +
        folder.children.filter(isFolder).reduce((sum, f) => sum + (open.has(f.path) ? shown(f) : 0), 0);
      return shown(root) <= Math.max(budget, Math.min(root.children.length, PAGE));
    }),
  );
});
