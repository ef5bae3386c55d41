/** The default of a switch that covers every case: a compile error when one is added and not handled. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
