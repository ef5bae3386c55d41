import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { parse as parseYaml } from 'yaml';

/** An OIDC issuer whose tokens this server accepts (CI: GitLab `id_tokens`, GitHub Actions, ...). */
export interface OidcIssuer {
  /** The issuer URL, exactly as the tokens' `iss` claim spells it. */
  readonly issuer: string;
  /** Accepted `aud` values; a token must name at least one of them. Never empty. */
  readonly audience: string[];
  /** The short name grants refer to (e.g. "gitlab"); the issuer URL when none is configured. */
  readonly name: string;
  /** A local JWKS file (air-gapped sites); otherwise keys are discovered from the issuer. */
  readonly jwksFile?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * An https URL, or http on a loopback host (for a local test issuer). No credentials, query or
 * fragment: an issuer identifier has none (OpenID Connect Discovery 1.0, section 2).
 */
export const isIssuerUrl = (text: string): boolean => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  return secure && url.username === '' && url.password === '' && url.search === '' && url.hash === '' && !text.includes('?') && !text.includes('#');
};

/** A field codec whose name is what the error sentence says the field must be. */
const field = <A>(expected: string, check: (u: unknown) => A | undefined) =>
  new t.Type<A, unknown, unknown>(
    expected,
    (u): u is A => check(u) !== undefined,
    (u, c) => {
      const a = check(u);
      return a === undefined ? t.failure(u, c, expected) : t.success(a);
    },
    t.identity,
  );

const optional = <A>(codec: t.Type<A, unknown, unknown>) =>
  new t.Type<A | undefined, unknown, unknown>(
    codec.name,
    (u): u is A | undefined => u === undefined || codec.is(u),
    (u, c) => (u === undefined ? t.success(undefined) : codec.validate(u, c)),
    t.identity,
  );

const nonEmptyString = (u: unknown): string | undefined => (typeof u === 'string' && u.trim() !== '' ? u : undefined);

const IssuerUrl = field('an https URL (http only on 127.0.0.1, localhost or [::1]) without query or fragment', (u) =>
  typeof u === 'string' && isIssuerUrl(u) ? u : undefined,
);

const Audience = field('a non-empty string or a non-empty list of non-empty strings', (u): string[] | undefined => {
  if (nonEmptyString(u) !== undefined) return [u as string];
  if (!Array.isArray(u) || u.length === 0) return undefined;
  const list = u.map(nonEmptyString);
  return list.every((a): a is string => a !== undefined) ? [...new Set(list)] : undefined;
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const Name = field('a short name of up to 64 letters, digits, ".", "_" or "-", starting with a letter or digit', (u) =>
  typeof u === 'string' && NAME.test(u) ? u : undefined,
);

const FilePath = field('a non-empty file path', nonEmptyString);

/** One issuer as written in the configuration (snake_case, audience as a string or a list). */
export const OidcIssuerEntry = t.type({
  issuer: IssuerUrl,
  audience: Audience,
  name: optional(Name),
  jwks_file: optional(FilePath),
});

const FIELDS = Object.keys(OidcIssuerEntry.props);

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

const shown = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 100 ? `${json.slice(0, 100)}...` : json;
};

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]?.trim() ?? '';

/** JSON when it parses as JSON; YAML (which JSON mostly is) otherwise. */
const parseText = (text: string): E.Either<string, unknown> => {
  try {
    return E.right(JSON.parse(text));
  } catch (jsonError) {
    try {
      return E.right(parseYaml(text, { maxAliasCount: 100 }));
    } catch (yamlError) {
      return E.left(
        /^\s*[[{]/.test(text)
          ? `the OIDC issuers configuration is not valid JSON: ${firstLine(jsonError)}`
          : `the OIDC issuers configuration is not valid YAML: ${firstLine(yamlError)}`,
      );
    }
  }
};

const where = (index: number) => `issuers[${index}]`;

/**
 * The OIDC issuers configuration: a JSON array, or a YAML document holding a list or
 * `{issuers: [...]}`. A Left is one sentence naming the first wrong field.
 */
export const decodeOidcIssuers = (text: string): E.Either<string, OidcIssuer[]> => {
  const parsed = parseText(text);
  if (E.isLeft(parsed)) return parsed;
  const document = parsed.right;
  const list = Array.isArray(document) ? document : isRecord(document) ? document.issuers : undefined;
  if (!Array.isArray(list)) {
    return E.left('the OIDC issuers configuration must be a list of issuers, or a mapping with an "issuers" list');
  }
  if (isRecord(document)) {
    const extra = Object.keys(document).find((key) => key !== 'issuers');
    if (extra !== undefined) return E.left(`the OIDC issuers configuration has an unknown field ${shown(extra)}; only "issuers" is allowed`);
  }
  const issuers: OidcIssuer[] = [];
  for (const [index, item] of list.entries()) {
    if (!isRecord(item)) return E.left(`${where(index)} must be a mapping with the fields issuer and audience, got ${shown(item)}`);
    const unknown = Object.keys(item).find((key) => !FIELDS.includes(key));
    if (unknown !== undefined) {
      return E.left(`${where(index)} has an unknown field ${shown(unknown)}; the fields are issuer, audience, name and jwks_file`);
    }
    const decoded = OidcIssuerEntry.decode(item);
    if (E.isLeft(decoded)) {
      const error = decoded.left[0];
      const key = error?.context[error.context.length - 1]?.key ?? '?';
      const expected = error?.message ?? 'valid';
      return E.left(
        error?.value === undefined
          ? `${where(index)}.${key} is missing; it must be ${expected}`
          : `${where(index)}.${key} must be ${expected}, got ${shown(error.value)}`,
      );
    }
    const entry = decoded.right;
    // A grant names the issuer in `oidc:ISSUER:claim=value,...`: a URL holding `,` or `:x=` could never be named there.
    if (entry.name === undefined && /,|:[A-Za-z_][A-Za-z0-9_.-]*=/.test(entry.issuer)) {
      return E.left(`${where(index)} needs a name: its issuer URL ${shown(entry.issuer)} cannot be written in a grant's subject`);
    }
    const name = entry.name ?? entry.issuer;
    const sameIssuer = issuers.findIndex((other) => other.issuer === entry.issuer);
    if (sameIssuer >= 0) return E.left(`${where(index)}.issuer ${shown(entry.issuer)} is already configured as ${where(sameIssuer)}`);
    const sameName = issuers.findIndex((other) => other.name === name);
    if (sameName >= 0) return E.left(`${where(index)}.name ${shown(name)} is already the name of ${where(sameName)}; names must be unique`);
    issuers.push({
      issuer: entry.issuer,
      audience: entry.audience,
      name,
      ...(entry.jwks_file === undefined ? {} : { jwksFile: entry.jwks_file }),
    });
  }
  return E.right(issuers);
};
