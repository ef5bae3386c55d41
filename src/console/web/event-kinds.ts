import type { LedgerEvent } from './api.js';

/** Which live events change what a page shows. */

const LOCK_EVENTS = new Set(['StateLocked', 'StateUnlocked', 'LockForceReleased', 'LockExpired']);
const BODY_EVENTS = new Set(['StatePushed', 'StateRolledBack', 'StateDeleted', 'VersionPruned']);

export const changesBody = (event: LedgerEvent): boolean => BODY_EVENTS.has(event.type);

/** Any event of a state (not of the `$access` stream). */
export const isStateEvent = (event: LedgerEvent): boolean => LOCK_EVENTS.has(event.type) || BODY_EVENTS.has(event.type) || event.type.startsWith('Version');
