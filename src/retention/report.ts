import type { GcReport } from './gc.js';
import type { PruneReport } from './prune.js';

/** "12.3 MB" style, for the summary line (the item lines give exact bytes). */
export const humanBytes = (bytes: number): string => {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
};

const OUTCOME = { deleted: 'deleted', claimed: 'kept for now: a write in progress refers to it (gc removes it later)', referenced: 'kept: a kept version refers to it' } as const;

/** A short summary, then one line per version and per body. */
export const pruneText = (report: PruneReport): string => {
  const states = new Set(report.versions.map((v) => v.state)).size;
  const deleted = report.blobs.filter((b) => b.outcome === 'deleted').length;
  const verb = report.dryRun ? 'would prune' : 'pruned';
  const lines = [
    `${verb} ${report.versions.length} versions of ${states} states; ${report.dryRun ? 'would delete' : 'deleted'} ${deleted} bodies, ` +
      `${report.dryRun ? 'saving' : 'saved'} ${humanBytes(report.bytesSaved)} (${report.bytesSaved} bytes)`,
    ...report.versions.map((v) => `version ${v.version} of ${v.state}: ${v.size} bytes, body ${v.blobKey}, policy ${v.policy}`),
    ...report.blobs.map((b) => `body ${b.key}: ${b.size} bytes, ${b.outcome === 'deleted' && report.dryRun ? 'would be deleted' : OUTCOME[b.outcome]}`),
  ];
  return `${lines.join('\n')}\n`;
};

export const pruneJson = (report: PruneReport) => ({
  dry_run: report.dryRun,
  versions: report.versions.map((v) => ({ state: v.state, version: v.version, blob_key: v.blobKey, size: v.size, policy: v.policy })),
  blobs: report.blobs.map((b) => ({ key: b.key, size: b.size, outcome: b.outcome })),
  bytes_saved: report.bytesSaved,
});

export const gcText = (report: GcReport): string => {
  const lines = [
    `${report.dryRun ? 'would delete' : 'deleted'} ${report.removed.length} of ${report.examined} bodies that no kept version refers to, ` +
      `${report.dryRun ? 'saving' : 'saved'} ${humanBytes(report.bytesSaved)} (${report.bytesSaved} bytes); ${report.fresh} left alone within the grace period`,
    ...report.removed.map((r) => `body ${r.key}: ${r.size} bytes, last written ${r.lastModified.toISOString()}`),
  ];
  return `${lines.join('\n')}\n`;
};

export const gcJson = (report: GcReport) => ({
  dry_run: report.dryRun,
  examined: report.examined,
  fresh: report.fresh,
  removed: report.removed.map((r) => ({ key: r.key, size: r.size, last_modified: r.lastModified.toISOString() })),
  bytes_saved: report.bytesSaved,
});
