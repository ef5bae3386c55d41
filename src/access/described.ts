/** A value as an error may quote it: text short and as JSON, anything else only by kind (it may be nested arbitrarily deep). */
export const described = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'nothing';
  return Array.isArray(value) ? 'a list' : 'a mapping';
};
