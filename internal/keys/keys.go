// Package keys manages Rampart's named, versioned encryption keyrings
// (envelope encryption, as in Vault's transit engine and Tink).
//
// A keyring is either AEAD (AES-256-GCM, a fresh random nonce per
// message) or deterministic (AES-SIV, for values that must be looked up by
// equality). Each rotation adds a version and makes it the primary: new
// ciphertexts use the primary, old ones keep decrypting under their own
// version until it is disabled or falls below the keyring's minimum
// decryption version. Rewrap re-encrypts a ciphertext under the primary
// without the caller seeing the plaintext.
//
// Ciphertexts are "rampart:v<version>:<standard base64>" (see
// fieldcrypt.FormatCiphertext): the version picks the key, the keyring is
// named by the caller (the transit URL, the column). Nonces are never the
// caller's: tink draws them from crypto/rand.
//
// # Storage
//
// Each keyring is one file, DIR/<name>.keyring, written durably through
// securefile (temporary file, fsync, rename, directory fsync) under an
// exclusive lock, so concurrent CLI runs and a crash cannot lose a
// version; a running server follows changes with Reload or Watch. The
// file is JSON:
//
//	{"body": {"format":1, "name":"users", "type":"aead", "primary":2,
//	          "min_decryption_version":1,
//	          "versions":[{"version":1, "created":..., "disabled":false,
//	                       "keyset":"<tink keyset encrypted under the KEK>"}, ...]},
//	 "seal": "<KEK AEAD over the body>"}
//
// Key material never leaves the KEK's encryption: every version's tink
// keyset is encrypted under the key-encryption key with the keyring name
// and version as associated data (a keyset moved to another keyring or
// version does not load), and the seal authenticates the whole body, so
// that nobody without the KEK can re-enable a version or lower the minimum
// decryption version by editing the file. The KEK is any tink.AEAD: a
// local AES-256-GCM key (LoadKEK) or a cloud KMS key through tink's KMS
// clients.
package keys

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
)

// EventChanged is the security event of a keyring change made with the
// CLI (create, rotate, disable, enable, min_version, in Reason); Principal
// is the OS account that ran it.
const EventChanged event.Type = "keyring_changed"

// Type is a keyring's algorithm.
type Type string

// Keyring types.
const (
	AEAD          Type = "aead"          // AES-256-GCM
	Deterministic Type = "deterministic" // AES-SIV
)

// Errors of keyring operations. The ciphertext errors are fieldcrypt's, so
// that a service using a Keyring through fieldcrypt can test them too.
var (
	ErrUnknownKey          = errors.New("unknown key")
	ErrKeyExists           = errors.New("key already exists")
	ErrMalformedCiphertext = fieldcrypt.ErrMalformedCiphertext
	ErrDecrypt             = fieldcrypt.ErrDecrypt
	ErrUnknownVersion      = fieldcrypt.ErrUnknownVersion
	ErrVersionDisabled     = fieldcrypt.ErrVersionDisabled
	ErrVersionTooOld       = fieldcrypt.ErrVersionTooOld
)

// namePattern keeps names safe as file names, URL segments and scope parts.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether name can name a keyring: 1 to 64 of a-z, 0-9,
// '_' and '-', starting with a letter or digit.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// Info describes a keyring; it never holds key material.
type Info struct {
	Name                 string
	Type                 Type
	Primary              int
	MinDecryptionVersion int
	Versions             []VersionInfo
}

// VersionInfo describes one version of a keyring.
type VersionInfo struct {
	Version  int
	Created  time.Time
	Disabled bool
}

// ring is one loaded keyring. It is never changed once built: a change
// builds a new ring and swaps it in, so readers need no lock beyond the
// map's.
type ring struct {
	info  Info
	prims map[int]primitive
}

// primitive is one version's cipher; exactly one field is set.
type primitive struct {
	aead  tink.AEAD
	daead tink.DeterministicAEAD
}

func (r *ring) encrypt(plaintext, ad []byte) (string, error) {
	v := r.info.Primary
	p := r.prims[v]
	var body []byte
	var err error
	if p.aead != nil {
		body, err = p.aead.Encrypt(plaintext, ad)
	} else {
		body, err = p.daead.EncryptDeterministically(plaintext, ad)
	}
	if err != nil {
		return "", fmt.Errorf("encrypt with key %q: %w", r.info.Name, err)
	}
	return fieldcrypt.FormatCiphertext(v, body), nil
}

func (r *ring) decrypt(ciphertext string, ad []byte) ([]byte, error) {
	v, body, err := fieldcrypt.ParseCiphertext(ciphertext)
	if err != nil {
		return nil, err
	}
	p, ok := r.prims[v]
	switch {
	case !ok:
		return nil, ErrUnknownVersion
	case v < r.info.MinDecryptionVersion:
		return nil, ErrVersionTooOld
	case r.info.Versions[v-1].Disabled:
		return nil, ErrVersionDisabled
	}
	var pt []byte
	if p.aead != nil {
		pt, err = p.aead.Decrypt(body, ad)
	} else {
		pt, err = p.daead.DecryptDeterministically(body, ad)
	}
	if err != nil {
		// tink's message adds nothing a caller may act on.
		return nil, ErrDecrypt
	}
	return pt, nil
}

// template returns the tink key template of t. Output prefix RAW: our
// ciphertext prefix already names the version, and each version is a
// keyset of its own.
func template(t Type) (*tinkpb.KeyTemplate, error) {
	switch t {
	case AEAD:
		return aead.AES256GCMNoPrefixKeyTemplate(), nil
	case Deterministic:
		kt := daead.AESSIVKeyTemplate()
		kt.OutputPrefixType = tinkpb.OutputPrefixType_RAW
		return kt, nil
	}
	return nil, fmt.Errorf("unknown key type %q (want %q or %q)", t, AEAD, Deterministic)
}

// keysetAD binds an encrypted keyset to its keyring and version.
func keysetAD(name string, version int) []byte {
	return []byte("rampart keyring keyset\x00" + name + "\x00" + strconv.Itoa(version))
}

// newVersion generates a key for version v of keyring name and returns it
// encrypted under kek.
func newVersion(kek tink.AEAD, name string, t Type, v int) ([]byte, error) {
	kt, err := template(t)
	if err != nil {
		return nil, err
	}
	h, err := keyset.NewHandle(kt)
	if err != nil {
		return nil, fmt.Errorf("generate version %d of key %q: %w", v, name, err)
	}
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), kek, keysetAD(name, v)); err != nil {
		return nil, fmt.Errorf("encrypt version %d of key %q under the KEK: %w", v, name, err)
	}
	return buf.Bytes(), nil
}

// openVersion decrypts a version's keyset and builds its primitive.
func openVersion(kek tink.AEAD, name string, t Type, v int, sealed []byte) (primitive, error) {
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(sealed)), kek, keysetAD(name, v))
	if err != nil {
		return primitive{}, fmt.Errorf("decrypt version %d under the KEK: %w", v, err)
	}
	switch t {
	case AEAD:
		a, err := aead.New(h)
		if err != nil {
			return primitive{}, fmt.Errorf("version %d: %w", v, err)
		}
		return primitive{aead: a}, nil
	case Deterministic:
		d, err := daead.New(h)
		if err != nil {
			return primitive{}, fmt.Errorf("version %d: %w", v, err)
		}
		return primitive{daead: d}, nil
	}
	return primitive{}, fmt.Errorf("unknown key type %q", t)
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}
