import type { ContentsReading } from '../../bodies/contents-document.js';

/** A version's instances: each one's attributes digest by address, or why they are not known. */
export type Digests =
  | { readonly known: true; readonly byAddress: ReadonlyMap<string, string | null> }
  | { readonly known: false; readonly reason: string };

/** Instances added, changed and removed between two versions, or why they could not be counted. */
export type Changes = { readonly added: number; readonly changed: number; readonly removed: number } | { readonly unknown: string };

/** No version at all (a new or deleted state): nothing to compare with but nothing. */
export const NO_INSTANCES: Digests = { known: true, byAddress: new Map() };

export const digestsOf = (version: number, reading: ContentsReading): Digests => {
  switch (reading.kind) {
    case 'encrypted':
      return { known: false, reason: `version ${version} is encrypted` };
    case 'unreadable':
      return { known: false, reason: `version ${version} cannot be read: ${reading.reason}` };
    case 'contents': {
      // A malformed state may repeat an address: the first occurrence counts, as in the diff.
      const byAddress = new Map<string, string | null>();
      for (const instance of reading.contents.instances) if (!byAddress.has(instance.address)) byAddress.set(instance.address, instance.attributesDigest);
      return { known: true, byAddress };
    }
  }
};

/** Instance by instance, as `GET /states/NAME/diff` compares them: changed when their attributes differ. */
export const compareDigests = (before: Digests, after: Digests): Changes => {
  if (!before.known) return { unknown: before.reason };
  if (!after.known) return { unknown: after.reason };
  let added = 0;
  let changed = 0;
  for (const [address, digest] of after.byAddress) {
    if (!before.byAddress.has(address)) added++;
    else if (before.byAddress.get(address) !== digest) changed++;
  }
  let removed = 0;
  for (const address of before.byAddress.keys()) if (!after.byAddress.has(address)) removed++;
  return { added, changed, removed };
};
