/**
 * Events never change once written, but the code's idea of an event does. Each stored event
 * carries the schema version its data was written in; reading turns an older shape into the
 * current one, one step at a time, before the codec checks it. Adding a field to an event means:
 * bump its version here and add the step that fills the field in for older rows.
 */

type EventData = Record<string, unknown>;
type Upcaster = (data: EventData) => EventData;

/** The schema version each event type is written in today (1 when it never changed). */
const CURRENT: Readonly<Record<string, number>> = {
  StateLocked: 3,
  LockForceReleased: 2,
  StatePushed: 2,
  StateRolledBack: 2,
};

// Shape 1 of writes predates lock leases.
const withoutLeaseRenewal: Upcaster = (data) => ({ ...data, lease_until: null });

/** UPCASTERS[type][n] turns shape n into shape n + 1. */
const UPCASTERS: Readonly<Record<string, Readonly<Record<number, Upcaster>>>> = {
  StateLocked: {
    // Shape 1 had no taken_by for locks recorded before identities existed.
    1: (data) => ({ ...data, taken_by: data.taken_by ?? null }),
    // Shape 2 predates lock leases.
    2: (data) => ({ ...data, lease: null }),
  },
  // Shape 1 predates the reason an administrator gives.
  LockForceReleased: { 1: (data) => ({ ...data, reason: null }) },
  StatePushed: { 1: withoutLeaseRenewal },
  StateRolledBack: { 1: withoutLeaseRenewal },
};

export const currentSchemaVersion = (type: string): number => CURRENT[type] ?? 1;

/** The data of a stored event in today's shape, or why it cannot be read. */
export const upcast = (type: string, schemaVersion: number, data: unknown): { data: unknown } | { problem: string } => {
  const current = currentSchemaVersion(type);
  if (schemaVersion > current) {
    return { problem: `was written in schema ${schemaVersion} of ${type}, newer than this server knows (${current}): upgrade state-ledger` };
  }
  let shaped = data;
  for (let version = schemaVersion; version < current; version++) {
    const step = UPCASTERS[type]?.[version];
    if (step === undefined) return { problem: `has no upcaster from schema ${version} of ${type}` };
    if (typeof shaped !== 'object' || shaped === null || Array.isArray(shaped)) return { problem: `data is not an object` };
    shaped = step(shaped as EventData);
  }
  return { data: shaped };
};
