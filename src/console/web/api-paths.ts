import type { Route } from './routes.js';

/** The API's addresses the console asks for, in one place: a page and the boot script that starts its first requests early must ask for the same strings. */

/** A path segment of a state name, with its `/`s kept (nested names are paths). */
export const statePath = (name: string): string => `/states/${name.split('/').map(encodeURIComponent).join('/')}`;

export const STATES = '/states';
export const LOCKS = '/locks';
/** How many versions, runs, events and resources a state's page shows at once. */
const VERSIONS_PAGE = 20;
const RUNS_PAGE = 20;
const EVENTS_PAGE = 25;
const RESOURCES_PAGE = 100;

export const outputsPath = (name: string) => `${statePath(name)}/outputs`;
export const lockPath = (name: string) => `${statePath(name)}/lock`;
export const runsPath = (name: string) => `${statePath(name)}/runs?limit=${RUNS_PAGE}`;
export const versionsPath = (name: string, before: number | null) => `${statePath(name)}/versions?limit=${VERSIONS_PAGE}${before === null ? '' : `&before=${before}`}`;
export const resourcesPath = (name: string, after: string | null) =>
  `/resources?${new URLSearchParams({ state: name, limit: String(RESOURCES_PAGE), ...(after === null ? {} : { after }) }).toString()}`;
export const auditPath = (name: string, before: number | null) =>
  `${statePath(name)}/events?${new URLSearchParams({ order: 'newest', limit: String(EVENTS_PAGE), ...(before === null ? {} : { before: String(before) }) }).toString()}`;

/**
 * What a page asks for as soon as it shows, before it knows the caller's role: a state's page as
 * a reader sees it (for an outputs-only user the others are refused and left unused).
 */
export const firstRequests = (route: Route): readonly string[] => {
  switch (route.page) {
    case 'overview':
      return [STATES, LOCKS];
    case 'state':
      return [outputsPath(route.name), lockPath(route.name), versionsPath(route.name, null), runsPath(route.name), resourcesPath(route.name, null), auditPath(route.name, null)];
    default:
      return [];
  }
};
