const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;

/** Page sizes: 50 unless asked, never more than 1000. */
export const pageSize = (limit: number | undefined): number => Math.min(limit ?? DEFAULT_PAGE, MAX_PAGE);
