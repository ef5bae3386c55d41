import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { parse as parseYaml } from 'yaml';
import { accountNameError, decodeAccessFile, grantError } from '../access/access-file.js';
import { EXPIRY_FORMS, parseExpiry } from '../access/expiry.js';
import type { Grant } from '../access/roles.js';
import { untrustedIssuer } from '../access/trusted-issuers.js';
import { loadOidcIssuers } from '../identity/load-issuers.js';
import { manageAccess, type AccessFailure } from '../application/manage-access.js';
import type { CommandMetadata } from '../commands/commands.js';
import type { Config } from '../config.js';
import { errorResponse } from '../http/errors.js';
import { formatTable } from '../http/text-table.js';
import { generatePassword } from '../identity/passwords.js';
import type { Logger } from '../logger.js';
import { listGrants, listTokens, listUsers } from '../projections/access-queries.js';
import { openDatabase } from '../runtime.js';
import { Refused } from '../refused.js';
import { ledgerStores } from '../ledger-stores.js';

type Action = <A extends unknown[]>(run: (config: Config, logger: Logger, ...args: A) => Promise<void>) => (...args: A) => Promise<void>;

const cliMetadata = (): CommandMetadata => ({
  actor: `cli:${os.userInfo().username}`,
  remoteAddress: null,
  userAgent: 'state-ledger-cli',
  requestId: randomUUID(),
  now: new Date(),
});

/** Results go to stdout (a secret, a table) so scripts can capture them; messages go to stderr. */
const say = (line: string): void => void process.stderr.write(`${line}\n`);

const refused = (failure: AccessFailure): Error => new Refused((errorResponse(failure).body as { message: string }).message);

const checkedName = (kind: 'user' | 'token') => (value: string): string => {
  const error = accountNameError(kind, value);
  if (error !== undefined) throw new InvalidArgumentError(error);
  return value;
};

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
};

/** The password from stdin, or a generated one (printed once); undefined means generate. */
const passwordFrom = async (fromStdin: boolean | undefined): Promise<string | undefined> => {
  if (fromStdin !== true) return undefined;
  const password = await readStdin();
  if ([...password].length < 12 || password.length > 1024) throw new Refused('the password must be 12 to 1024 characters');
  return password;
};

/** A grant from the command line, refused like the API refuses it (an issuer the server's OIDC settings do not name included). */
const grantOf = async (config: Config, role: string, subject: string, glob: string): Promise<Grant> => {
  const error = grantError({ role, subject, glob });
  if (error !== undefined) throw new Refused(error);
  const grant = { role, subject, glob } as Grant;
  const untrusted = untrustedIssuer(grant, await loadOidcIssuers(config));
  if (untrusted !== undefined) throw new Refused(untrusted);
  return grant;
};

/** The access stream of the configured database (DATABASE_URL, or DATA_DIR's embedded PostgreSQL, attached to a running server's). */
const withAccess = async <A>(config: Config, logger: Logger, command: string, work: (access: ReturnType<typeof manageAccess>, db: Awaited<ReturnType<typeof openDatabase>>['pool']) => Promise<A>): Promise<A> => {
  const database = await openDatabase(config, logger, command);
  try {
    return await work(manageAccess(ledgerStores(database.pool).accessStore), database.pool);
  } finally {
    await database.close();
  }
};

const orFail = <A>(outcome: E.Either<AccessFailure, A>): A => {
  if (E.isLeft(outcome)) throw refused(outcome.left);
  return outcome.right;
};

export const registerAccessCommands = (program: Command, action: Action): void => {
  const user = program.command('user').description('users who sign in with a password (or a client certificate)');
  user
    .command('add')
    .description('add a user; without --password-stdin a password is generated and printed once on stdout')
    .argument('<name>', 'user name', checkedName('user'))
    .option('--password-stdin', 'read the password from stdin')
    .action(
      action(async (config, logger, name: string, options: { passwordStdin?: boolean }) => {
        const given = await passwordFrom(options.passwordStdin);
        await withAccess(config, logger, 'user add', async (access) => {
          const { password } = orFail(await access.addUser(name, given, cliMetadata()));
          say(`added user ${name}; grant it roles with \`state-ledger grant ROLE user:${name} GLOB\``);
          if (password !== undefined) process.stdout.write(`${password}\n`);
        });
      }),
    );
  user
    .command('passwd')
    .description("set a user's password; without --password-stdin one is generated and printed once on stdout")
    .argument('<name>', 'user name', checkedName('user'))
    .option('--password-stdin', 'read the password from stdin')
    .action(
      action(async (config, logger, name: string, options: { passwordStdin?: boolean }) => {
        const given = await passwordFrom(options.passwordStdin);
        const password = given ?? generatePassword();
        await withAccess(config, logger, 'user passwd', async (access) => {
          orFail(await access.changePassword(name, password, cliMetadata()));
          say(`changed the password of user ${name}`);
          if (given === undefined) process.stdout.write(`${password}\n`);
        });
      }),
    );
  user
    .command('remove')
    .description('remove a user and revoke its grants')
    .argument('<name>', 'user name', checkedName('user'))
    .action(
      action(async (config, logger, name: string) =>
        withAccess(config, logger, 'user remove', async (access) => {
          const events = orFail(await access.removeUser(name, cliMetadata()));
          say(`removed user ${name} and ${events.length - 1} grant(s)`);
        }),
      ),
    );
  user
    .command('list')
    .description('list users')
    .action(
      action(async (config, logger) =>
        withAccess(config, logger, 'user list', async (_access, db) => {
          const users = await listUsers(db);
          process.stdout.write(formatTable(['name', 'password', 'updated', 'by'], users.map((u) => [u.name, u.has_password ? 'set' : 'none', u.updated_at, u.updated_by])));
        }),
      ),
    );

  const token = program.command('token').description('API tokens for pipelines and scripts');
  token
    .command('create')
    .description('create a token and print only its secret on stdout (shown this once)')
    .argument('<name>', 'token name', checkedName('token'))
    .option('--expires <when>', `when it stops working: ${EXPIRY_FORMS}`)
    .action(
      action(async (config, logger, name: string, options: { expires?: string }) => {
        const expires = options.expires === undefined ? null : parseExpiry(options.expires, new Date());
        if (expires === undefined) throw new Refused(`--expires must be ${EXPIRY_FORMS}`);
        await withAccess(config, logger, 'token create', async (access) => {
          const { secret } = orFail(await access.createToken(name, expires, cliMetadata()));
          say(`created token ${name}${expires === null ? '' : `, expiring ${expires.toISOString()}`}; grant it roles with \`state-ledger grant ROLE token:${name} GLOB\``);
          process.stdout.write(`${secret}\n`);
        });
      }),
    );
  token
    .command('revoke')
    .description('revoke a token and its grants (every server refuses it from its next request)')
    .argument('<name>', 'token name', checkedName('token'))
    .action(
      action(async (config, logger, name: string) =>
        withAccess(config, logger, 'token revoke', async (access) => {
          const events = orFail(await access.revokeToken(name, cliMetadata()));
          say(`revoked token ${name} and ${events.length - 1} grant(s)`);
        }),
      ),
    );
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(
      action(async (config, logger) =>
        withAccess(config, logger, 'token list', async (_access, db) => {
          const tokens = await listTokens(db);
          process.stdout.write(formatTable(['name', 'created', 'expires', 'last used'], tokens.map((k) => [k.name, k.created_at, k.expires_at, k.last_used_at])));
        }),
      ),
    );

  program
    .command('grant')
    .description('grant ROLE (outputs, read, write, admin) to SUBJECT on the states matching GLOB')
    .argument('<role>', 'outputs, read, write or admin')
    .argument('<subject>', 'user:NAME, token:NAME or oidc:ISSUER[:claim=value,...]')
    .argument('<glob>', 'state names: * matches within one /-separated segment, ** any number of segments, * alone every state (quote it in the shell)')
    .action(
      action(async (config, logger, role: string, subject: string, glob: string) => {
        const grant = await grantOf(config, role, subject, glob);
        await withAccess(config, logger, 'grant', async (access) => {
          const events = orFail(await access.grant(grant, cliMetadata()));
          say(events.length === 0 ? `${subject} already has ${role} on ${glob}` : `granted ${role} to ${subject} on ${glob}`);
        });
      }),
    );
  program
    .command('revoke-grant')
    .description('revoke a grant given with `grant`')
    .argument('<role>', 'outputs, read, write or admin')
    .argument('<subject>', 'user:NAME, token:NAME or oidc:ISSUER[:claim=value,...]')
    .argument('<glob>', 'the glob the grant was given on')
    .action(
      action(async (config, logger, role: string, subject: string, glob: string) => {
        const grant = await grantOf(config, role, subject, glob);
        await withAccess(config, logger, 'revoke-grant', async (access) => {
          orFail(await access.revokeGrant(grant, cliMetadata()));
          say(`revoked ${role} from ${subject} on ${glob}`);
        });
      }),
    );

  const accessCommand = program.command('access').description('every grant at a glance, and access kept in a file');
  accessCommand
    .command('list')
    .description('list every grant')
    .action(
      action(async (config, logger) =>
        withAccess(config, logger, 'access list', async (_access, db) => {
          const grants = await listGrants(db);
          process.stdout.write(formatTable(['role', 'subject', 'states', 'granted', 'by'], grants.map((g) => [g.role, g.subject, g.glob, g.granted_at, g.granted_by])));
        }),
      ),
    );
  accessCommand
    .command('apply')
    .description('make users (without passwords), tokens (without secrets) and grants equal to a YAML file, printing the changes first')
    .argument('<file>', 'YAML (or JSON) with users, tokens and grants')
    .option('--dry-run', 'only print the changes')
    .action(
      action(async (config, logger, file: string, options: { dryRun?: boolean }) => {
        const text = await fs.readFile(file, 'utf8');
        let document: unknown;
        try {
          document = parseYaml(text, { maxAliasCount: 100 });
        } catch (error) {
          throw new Refused(`${file} is not valid YAML: ${(error as Error).message.split('\n')[0] ?? ''}`);
        }
        const desired = decodeAccessFile(document);
        if (E.isLeft(desired)) throw new Refused(`${file}: ${desired.left}`);
        const trusted = await loadOidcIssuers(config);
        const untrusted = desired.right.grants.map((grant) => untrustedIssuer(grant, trusted)).find((error) => error !== undefined);
        if (untrusted !== undefined) throw new Refused(`${file}: ${untrusted}`);
        await withAccess(config, logger, 'access apply', async (access) => {
          const planned = orFail(await access.apply(desired.right, true, cliMetadata()));
          if (planned.changes.length === 0) return say('no changes: access already matches the file');
          for (const change of planned.changes) say(`${options.dryRun === true ? 'would ' : ''}${change}`);
          if (options.dryRun === true) return;
          const applied = orFail(await access.apply(desired.right, false, cliMetadata()));
          say(`applied ${applied.changes.length} change(s)`);
          // New tokens' secrets, once: `NAME SECRET` lines on stdout.
          for (const { name, secret } of applied.secrets) process.stdout.write(`${name} ${secret}\n`);
        });
      }),
    );
};
