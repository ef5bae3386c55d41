/**
 * The overview's tree: every state under the folders of its name (`team-a/prod/network` sits in
 * `team-a/` and `prod/`), each folder summing up what it holds, and which folders open by default
 * so that a fleet of thousands of states opens on a screenful of rows, not on thousands.
 */

/** What the tree needs of a state: its name, size, last change and lock. */
export interface TreeState {
  readonly name: string;
  readonly size: number | null;
  readonly updated_at: string | null;
  readonly lock: unknown;
}

export interface Folder<S extends TreeState> {
  readonly path: string;
  readonly name: string;
  readonly depth: number;
  /** Folders and states, in code-unit order of the names. */
  readonly children: (Folder<S> | S)[];
  states: number;
  locked: number;
  stale: number;
  size: number;
  /** The state changed most recently, anywhere below. */
  latest: S | undefined;
}

export const isFolder = <S extends TreeState>(entry: Folder<S> | S): entry is Folder<S> => 'children' in entry;

const newFolder = <S extends TreeState>(path: string, name: string, depth: number): Folder<S> =>
  ({ path, name, depth, children: [], states: 0, locked: 0, stale: 0, size: 0, latest: undefined });

/** `stale(state)`: the state's lock lease has expired. */
export const buildTree = <S extends TreeState>(states: readonly S[], stale: (state: S) => boolean): Folder<S> => {
  const root = newFolder<S>('', '', -1);
  const folders = new Map<string, Folder<S>>([['', root]]);
  // In code-unit order, whatever the database's collation: each folder's states then come together.
  const sorted = [...states].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const state of sorted) {
    const segments = state.name.split('/');
    const chain = [root];
    let path = '';
    for (let depth = 0; depth < segments.length - 1; depth++) {
      path += `${segments[depth]}/`;
      let folder = folders.get(path);
      if (folder === undefined) {
        folder = newFolder<S>(path, segments[depth]!, depth);
        folders.set(path, folder);
        chain[chain.length - 1]!.children.push(folder);
      }
      chain.push(folder);
    }
    chain[chain.length - 1]!.children.push(state);
    for (const folder of chain) {
      folder.states++;
      folder.size += state.size ?? 0;
      if (state.lock !== null) folder.locked++;
      if (stale(state)) folder.stale++;
      if (state.updated_at !== null && (folder.latest?.updated_at ?? '') < state.updated_at) folder.latest = state;
    }
  }
  return root;
};

/** A folder shows this many entries, then offers the rest. */
export const PAGE = 100;

const shownRows = <S extends TreeState>(folder: Folder<S>) => Math.min(folder.children.length, PAGE) + (folder.children.length > PAGE ? 1 : 0);

/**
 * The folders open by default: level by level from the top, as long as the rows shown stay within
 * `budget`. A small fleet opens whole; a large one on its upper folders, each with its summary.
 */
export const openByDefault = <S extends TreeState>(root: Folder<S>, budget: number): Set<string> => {
  const open = new Set<string>();
  let rows = shownRows(root);
  let level = root.children.filter(isFolder);
  while (level.length > 0) {
    const more = level.reduce((sum, folder) => sum + shownRows(folder), 0);
    if (rows + more > budget) break;
    rows += more;
    for (const folder of level) open.add(folder.path);
    level = level.flatMap((folder) => folder.children.filter(isFolder));
  }
  return open;
};

/** Every folder's path, for "expand all". */
export const allFolders = <S extends TreeState>(root: Folder<S>): string[] =>
  root.children.filter(isFolder).flatMap((folder) => [folder.path, ...allFolders(folder)]);
