/**
 * What a state name is. Names may nest: `team-a/prod/network`, `/`-separated segments each like a
 * flat name. The words that name a state's sub-resources in URLs (in any case) cannot follow the
 * first segment, so a URL like `/states/team-a/prod/versions/3` always splits into one name and
 * one sub-resource. The first segment may be such a word: a URL is never split before it, and flat
 * names such as `events` were valid before names could nest.
 */

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const MAX_STATE_NAME = 512;

/** Sub-resources of a state (`/states/NAME/lock`, `.../versions`, ...): never a segment of a name. */
export const SUB_RESOURCES: ReadonlySet<string> = new Set(['lock', 'unlock', 'versions', 'diff', 'events', 'rollback', 'outputs', 'runs']);

/** Whether a path segment names a sub-resource: express matches routes case-insensitively, so `LOCK` does too. */
export const isSubResource = (segment: string): boolean => SUB_RESOURCES.has(segment.toLowerCase());

export const STATE_NAME_RULE = `a state name: "/"-separated segments of letters, digits, ".", "_" or "-", each starting with a letter or digit and at most 128 characters, at most ${MAX_STATE_NAME} in all`;

/** Why `name` is not a state name, or undefined when it is one. */
export const stateNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_STATE_NAME) return `it is longer than ${MAX_STATE_NAME} characters`;
  for (const [i, segment] of name.split('/').entries()) {
    if (i > 0 && isSubResource(segment)) return `"${segment}" names a sub-resource and cannot be a segment of a state name after the first`;
    if (!SEGMENT.test(segment)) return segment === '' ? 'it has an empty segment (a leading, trailing or doubled "/")' : `the segment "${segment.slice(0, 40)}" is not a valid one`;
  }
  return undefined;
};

export const isStateName = (name: string): boolean => stateNameProblem(name) === undefined;
