// Package edgetls terminates TLS at the edge of the gateway: it builds the
// server *tls.Config, serves a certificate/key pair that is reloaded from disk
// without a restart, and issues a local development certificate when no
// certificate is configured.
//
// # Protocol choices
//
// TLS 1.2 is the floor (1.3 on request): TLS 1.0 and 1.1 lack AEAD ciphers and
// modern signature schemes and are deprecated by RFC 8996. For TLS 1.2 only
// ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305) is
// offered: ECDHE gives forward secrecy, which static RSA key exchange does not,
// and AEAD removes the CBC padding-oracle family (Lucky13, POODLE-style
// attacks). ChaCha20-Poly1305 is kept for clients without AES hardware. TLS 1.3
// suites are not configurable in crypto/tls and are all AEAD already.
//
// The key exchange groups are X25519MLKEM768 (hybrid post-quantum, protecting
// today's traffic against later quantum decryption), X25519 and P-256 for
// clients without it. ALPN offers h2 then http/1.1. Session tickets stay on:
// crypto/tls rotates the ticket keys itself, and resumption saves the
// handshake cost for returning clients.
//
// # Reloading
//
// Certificates are short-lived (ACME, cert-manager), so the Reloader picks up
// new files without a restart. It watches the directories that contain the
// files, not the files: editors, cert-manager and Kubernetes secret volumes
// replace a file by renaming a new one over it or by swapping a "..data"
// symlink, and a watch on the old file (its inode) would never see the new one.
// Events are debounced, and a reload happens only when the bytes on disk
// changed. A new pair that does not parse, whose key does not match, or whose
// certificate is expired is refused and the old pair keeps serving, so a
// half-written or wrong renewal never takes the edge down. A slow poll runs
// alongside the watch as a safety net for file systems where inotify events
// are lost (network file systems, queue overflow).
//
// The current pair is read through an atomic pointer, so handshakes never wait
// on a reload.
package edgetls
