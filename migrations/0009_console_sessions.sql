-- Web console sessions (issue 11): a browser signs in once (a user's password, or an API token)
-- and carries a random secret in an HttpOnly cookie. Kept here, not in a process, so that every
-- server process honours it. Only the secret's SHA-256 is stored (256 random bits need no slow hash).
-- subject: the user name, or the SHA-256 of the API token pasted (so that revoking the token ends
-- its sessions). Each request re-reads the user's or token's grants: a session never outlives
-- the access it was opened with.
CREATE TABLE console_sessions (
  secret_sha256  text PRIMARY KEY,
  subject_kind   text NOT NULL CHECK (subject_kind IN ('user', 'token')),
  subject        text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  remote_address text,
  user_agent     text
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
