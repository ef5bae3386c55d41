import { getJson } from './api.js';
import { firstRequests } from './api-paths.js';
import { EARLY_REQUESTS } from './early.js';
import { routeOf } from './routes.js';

// A classic script, run by the page's head before the app's module has loaded and evaluated: the
// page's first API requests start here, so their answers are on their way while the app starts.
(globalThis as Record<string, unknown>)[EARLY_REQUESTS] = new Map(firstRequests(routeOf(location.hash)).map((path) => [path, getJson(path)]));
