/**
 * JSON parsed with every digit of its numbers kept: Terraform's outputs and attributes may hold
 * integers beyond a double's 15–17 significant digits, which JSON.parse would round. Where the
 * browser offers the source text of a value (JSON.parse source text access: Chromium 114,
 * Firefox 135, Safari 18.4), such a number becomes JSON.rawJSON of its digits, which
 * JSON.stringify writes back unchanged; elsewhere it stays rounded.
 */

type Reviver = (key: string, value: unknown, context?: { readonly source?: string }) => unknown;
const rawJson = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;

/** Only a number of 16 digits or more can lose any. */
const LONG_NUMBER = /\d{16}/;

const keepDigits: Reviver = (_key, value, context) =>
  typeof value === 'number' && context?.source !== undefined && rawJson !== undefined && String(value) !== context.source ? rawJson(context.source) : value;

export const parseExact = (text: string): unknown =>
  LONG_NUMBER.test(text) ? JSON.parse(text, keepDigits as (key: string, value: unknown) => unknown) : JSON.parse(text);
