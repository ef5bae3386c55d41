-- Changing a user's password ends that user's console sessions (issue 11), in every process: a
-- session keeps the salt of the password hash its sign-in matched (each new password gets a new
-- salt), and is refused once the user's password has another. The session a user changed the
-- password through is moved to the new salt and stays. Null for token sessions and AUTH_USERS
-- users (no stored password). Sessions opened before this know no salt: they end.
ALTER TABLE console_sessions ADD COLUMN password_salt text;
DELETE FROM console_sessions WHERE subject_kind = 'user';
