CREATE TABLE clients (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	secret_hash   TEXT NOT NULL,
	public        INTEGER NOT NULL,
	auth_method   TEXT NOT NULL,
	redirect_uris TEXT NOT NULL,
	grant_types   TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	audiences     TEXT NOT NULL,
	jwks          TEXT NOT NULL,
	created       INTEGER NOT NULL,
	revoked       INTEGER NOT NULL
);
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	roles         TEXT NOT NULL,
	created       INTEGER NOT NULL,
	disabled      INTEGER NOT NULL
);
CREATE TABLE auth_codes (
	hash           TEXT PRIMARY KEY,
	client_id      TEXT NOT NULL,
	subject        TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	scope          TEXT NOT NULL,
	nonce          TEXT NOT NULL,
	challenge      TEXT NOT NULL,
	challenge_meth TEXT NOT NULL,
	auth_time      INTEGER NOT NULL,
	family         TEXT NOT NULL,
	expires        INTEGER NOT NULL,
	used           INTEGER NOT NULL
);
CREATE TABLE access_tokens (
	jti       TEXT PRIMARY KEY,
	family    TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject   TEXT NOT NULL,
	issued    INTEGER NOT NULL,
	expires   INTEGER NOT NULL
);
CREATE INDEX access_tokens_family ON access_tokens (family);
CREATE TABLE refresh_tokens (
	hash       TEXT PRIMARY KEY,
	family     TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	scope      TEXT NOT NULL,
	audience   TEXT NOT NULL,
	auth_time  INTEGER NOT NULL,
	issued     INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	state      TEXT NOT NULL,
	rotated_at INTEGER NOT NULL,
	replay     BLOB
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY,
	alg         TEXT NOT NULL,
	state       TEXT NOT NULL,
	private_enc BLOB NOT NULL,
	public_jwk  TEXT NOT NULL,
	created     INTEGER NOT NULL,
	retired     INTEGER NOT NULL,
	publish_until INTEGER NOT NULL
);
CREATE TABLE assertion_jtis (
	jti     TEXT PRIMARY KEY,
	expires INTEGER NOT NULL
);
CREATE TABLE revocations (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	token_id      TEXT NOT NULL,
	subject       TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	issued_before INTEGER NOT NULL,
	until         INTEGER NOT NULL
);
