/** The console's addresses: a state's page. */
export const stateHref = (name: string): string => `#/states/${encodeURIComponent(name)}`;
