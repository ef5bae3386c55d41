-- Who may do what: read models of the access stream ('$access'), rebuilt by replay like every other.

CREATE TABLE access_users (
  name       text PRIMARY KEY,
  -- scrypt hash with its parameters; null: no password (the user signs in with a client certificate)
  password   jsonb,
  updated_at timestamptz NOT NULL,
  updated_by text NOT NULL
);

CREATE TABLE access_tokens (
  name          text PRIMARY KEY,
  -- SHA-256 of the secret (256 random bits): the secret itself is shown once and never stored
  secret_sha256 text NOT NULL UNIQUE,
  expires_at    timestamptz,
  created_at    timestamptz NOT NULL,
  created_by    text NOT NULL
);

CREATE TABLE access_grants (
  role       text NOT NULL CHECK (role IN ('outputs', 'read', 'write', 'admin')),
  subject    text NOT NULL,
  glob       text NOT NULL,
  granted_at timestamptz NOT NULL,
  granted_by text NOT NULL,
  PRIMARY KEY (role, subject, glob)
);
CREATE INDEX access_grants_subject ON access_grants (subject);

-- When each token was last used: operational data, not derived from events (replay leaves it alone).
CREATE TABLE access_token_usage (
  secret_sha256 text PRIMARY KEY,
  last_used_at  timestamptz NOT NULL
);
