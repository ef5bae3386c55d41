/** Why a body is not stored. */
export type BodyError =
  | { readonly type: 'EmptyBody' }
  | { readonly type: 'TooLarge'; readonly limit: number }
  | { readonly type: 'BodyStalled'; readonly idleMs: number }
  | { readonly type: 'InvalidContentMd5' }
  | { readonly type: 'ContentMd5Mismatch'; readonly declared: string; readonly actual: string }
  | { readonly type: 'InvalidState'; readonly reason: string };
