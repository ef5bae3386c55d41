import { localTime } from './format.js';

/** A time in the browser's zone, the exact instant on hover. */
export const Time = ({ iso }: { readonly iso: string | null }) =>
  iso === null ? <span>–</span> : <time dateTime={iso} title={iso}>{localTime(iso)}</time>;
