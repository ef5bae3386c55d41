import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response } from 'express';
import type { Authenticator } from '../identity/authenticate.js';
import { isJwtShaped } from '../identity/oidc.js';
import { endSession, openSession, SESSION_COOKIE, SESSION_HOURS, sessionSha256, type SessionSubject } from '../identity/sessions.js';
import { secretSha256 } from '../identity/tokens.js';
import type { SqlExecutor } from '../storage/sql.js';
import { principalOf } from './access-control.js';
import { credentialsOf } from './auth.js';
import { badRequest, sendError } from './errors.js';

/** The console's built files (scripts/build-console.mjs), from src/http or dist/http alike. */
const ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'console');

/** The bundles scripts/build-console.mjs names by their content's hash: a name never serves other bytes. */
const HASHED_ASSET = /-[A-Z0-9]{8}\.(?:js|css|js\.map)$/;

/** Only what the console's own files need: no inline script or style, no other origin. */
const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The web console's files, served to anyone (they hold no data: every datum comes from the API,
 * under the caller's roles), and `/` sent to `/ui/` for browsers.
 */
export const consoleAssets = (): express.Router => {
  const router = express.Router();
  // Middleware, not routes: any other request for these paths goes on to the API's answers.
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path === '/ui') return res.redirect(301, '/ui/');
    if (req.path === '/' && req.accepts(['application/json', 'text/html']) === 'text/html') return res.redirect(302, '/ui/');
    next();
  });
  router.use(
    '/ui',
    express.static(ASSETS, {
      index: 'index.html',
      fallthrough: true,
      redirect: false,
      setHeaders: (res, file) => {
        res.setHeader('Content-Security-Policy', CONSOLE_CSP);
        // The page is asked for every time (it names the current bundles); the bundles never change.
        res.setHeader('Cache-Control', HASHED_ASSET.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );
  return router;
};

/** The identity a sign-in presented, as a session keeps it; undefined for credentials a session cannot stand for. */
const subjectOf = (req: Request, res: Response): SessionSubject | undefined => {
  const credentials = credentialsOf(req, () => undefined);
  if (credentials?.kind === 'basic') {
    if (credentials.name === 'oidc') return undefined;
    if (credentials.name === 'token') return { kind: 'token', subject: secretSha256(credentials.password) };
    return { kind: 'user', subject: credentials.name, passwordSalt: principalOf(res).passwordSalt ?? null };
  }
  if (credentials?.kind === 'bearer' && !isJwtShaped(credentials.secret)) return { kind: 'token', subject: secretSha256(credentials.secret) };
  return undefined;
};

const cookieOptions = (req: Request) => ({ httpOnly: true, sameSite: 'strict' as const, secure: req.secure, path: '/' });

const whoAmI = (res: Response) => {
  const principal = principalOf(res);
  return { actor: principal.actor, grants: principal.grants.map((g) => ({ role: g.role, glob: g.glob })) };
};

/**
 * Console sign-in and sign-out. POST /ui/session with the credentials the API takes (a user's
 * password as Basic, or an API token), checked (and throttled) by the same authentication as
 * every request, opens a session kept in PostgreSQL and sets its cookie; GET tells who the
 * session acts for; DELETE ends it.
 */
export const consoleSessionRoutes = ({ db, authenticator }: { readonly db: SqlExecutor; readonly authenticator: Authenticator }): express.Router => {
  const router = express.Router();

  router.post('/ui/session', async (req, res) => {
    const subject = subjectOf(req, res);
    if (subject === undefined) {
      return sendError(res, badRequest('unsupported_sign_in', 'sign in to the console with a user name and password, or with an API token'));
    }
    const session = await openSession(db, subject, { remoteAddress: req.ip ?? null, userAgent: req.get('user-agent') ?? null });
    res.cookie(SESSION_COOKIE, session.secret, { ...cookieOptions(req), maxAge: SESSION_HOURS * 3600 * 1000 });
    res.json({ ...whoAmI(res), expires_at: session.expiresAt });
  });

  router.get('/ui/session', (_req, res) => void res.json(whoAmI(res)));

  router.delete('/ui/session', async (req, res) => {
    const credentials = credentialsOf(req, () => undefined);
    if (credentials?.kind === 'session') {
      await endSession(db, sessionSha256(credentials.secret));
      authenticator.accessChanged();
    }
    res.clearCookie(SESSION_COOKIE, cookieOptions(req));
    res.json({ signed_out: credentials?.kind === 'session' });
  });

  return router;
};
