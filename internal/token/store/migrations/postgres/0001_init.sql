CREATE TABLE clients (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	secret_hash   TEXT NOT NULL,
	public        BIGINT NOT NULL,
	auth_method   TEXT NOT NULL,
	redirect_uris TEXT NOT NULL,
	grant_types   TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	audiences     TEXT NOT NULL,
	jwks          TEXT NOT NULL,
	created       BIGINT NOT NULL,
	revoked       BIGINT NOT NULL
);
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	roles         TEXT NOT NULL,
	created       BIGINT NOT NULL,
	disabled      BIGINT NOT NULL
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
	auth_time      BIGINT NOT NULL,
	family         TEXT NOT NULL,
	expires        BIGINT NOT NULL,
	used           BIGINT NOT NULL
);
CREATE TABLE access_tokens (
	jti       TEXT PRIMARY KEY,
	family    TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject   TEXT NOT NULL,
	issued    BIGINT NOT NULL,
	expires   BIGINT NOT NULL
);
CREATE INDEX access_tokens_family ON access_tokens (family);
CREATE TABLE refresh_tokens (
	hash       TEXT PRIMARY KEY,
	family     TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	scope      TEXT NOT NULL,
	audience   TEXT NOT NULL,
	auth_time  BIGINT NOT NULL,
	issued     BIGINT NOT NULL,
	expires    BIGINT NOT NULL,
	state      TEXT NOT NULL,
	rotated_at BIGINT NOT NULL,
	replay     BYTEA
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY,
	alg         TEXT NOT NULL,
	state       TEXT NOT NULL,
	private_enc BYTEA NOT NULL,
	public_jwk  TEXT NOT NULL,
	created     BIGINT NOT NULL,
	retired     BIGINT NOT NULL,
	publish_until BIGINT NOT NULL
);
CREATE TABLE assertion_jtis (
	jti     TEXT PRIMARY KEY,
	expires BIGINT NOT NULL
);
CREATE TABLE revocations (
	seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token_id      TEXT NOT NULL,
	subject       TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	issued_before BIGINT NOT NULL,
	until         BIGINT NOT NULL
);
