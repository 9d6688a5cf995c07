// Package fieldcrypt encrypts the PII fields of a service's records before
// they reach its database, and decrypts them after.
//
// Tag the fields of a struct and give a Crypter the keys:
//
//	type Customer struct {
//		ID       string
//		Email    string `fieldcrypt:"pii"`                // AES-256-GCM, bound to ID and "Email"
//		EmailIdx string `fieldcrypt:"blind=Email"`        // HMAC-SHA256 of Email, for lookups
//		SSN      string `fieldcrypt:"pii,deterministic"`  // AES-SIV: equal values, equal ciphertexts
//		Plan     string                                   // stored as is
//	}
//
//	c, err := fieldcrypt.New(fieldcrypt.Options{Keyring: k, Deterministic: dk, IndexKey: ik})
//	err = c.Seal(cust.ID, &cust)   // before INSERT/UPDATE: plaintext → "rampart:v1:…"
//	err = c.Open(cust.ID, &cust)   // after SELECT: ciphertext → plaintext
//
//	idx, _ := c.BlindIndex("Email", []byte(email))      // SELECT … WHERE email_idx = ?
//	ssn, _ := c.EncryptDeterministic("SSN", []byte(s))  // SELECT … WHERE ssn = ?
//
// Tags: `fieldcrypt:"pii"` seals a string field with a fresh nonce;
// `pii,deterministic` seals it deterministically; `name=N` sets the name
// the ciphertext is bound to (it defaults to the Go field name: set it
// before renaming a field, or its values stop opening); `blind=Field`
// fills the field with a blind index of another field's plaintext.
//
// Randomized fields are bound to the record id and field name (associated
// data): a ciphertext copied into another row or another column does not
// open (ErrDecrypt). Deterministic fields are bound to the field name only,
// since binding the record would defeat lookups; they reveal which rows
// hold equal values, so prefer a blind index unless the service must
// decrypt what it looks up by. Empty fields stay empty.
//
// Keys come from a Keyring: NewKeyring over raw keys kept by the service,
// or a keyring managed by Rampart ("rampart keys", whose Go adapter is
// internal to Rampart). Ciphertexts are "rampart:v<version>:<base64>";
// after a rotation, run Rotate over the stored records (and write back
// those it changed) so that the old version can be retired.
package fieldcrypt
