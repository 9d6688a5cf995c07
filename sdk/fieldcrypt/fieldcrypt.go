package fieldcrypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Options configure a Crypter. Only the keyrings the tags use are required.
type Options struct {
	// Keyring seals `fieldcrypt:"pii"` fields (randomized: AES-256-GCM).
	Keyring Keyring
	// Deterministic seals `fieldcrypt:"pii,deterministic"` fields; it must
	// be a deterministic keyring (AES-SIV).
	Deterministic Keyring
	// IndexKey keys the blind indexes (HMAC-SHA256); at least 32 random
	// bytes, distinct from every encryption key.
	IndexKey []byte
	// IndexBytes is how many bytes of the HMAC a blind index keeps (4 to 32;
	// 0 means 16). Fewer bytes make lookups return false positives, which
	// the caller filters after decrypting, and reveal less about equality.
	IndexBytes int
}

// Crypter seals and opens the tagged fields of structs. It is safe for
// concurrent use.
type Crypter struct {
	o     Options
	plans sync.Map // reflect.Type → *plan
}

// New checks o and returns a Crypter.
func New(o Options) (*Crypter, error) {
	if o.Keyring == nil && o.Deterministic == nil && o.IndexKey == nil {
		return nil, errors.New("fieldcrypt: no keyring and no index key")
	}
	if o.IndexKey != nil && len(o.IndexKey) < 32 {
		return nil, errors.New("fieldcrypt: the index key needs at least 32 bytes")
	}
	switch {
	case o.IndexBytes == 0:
		o.IndexBytes = 16
	case o.IndexBytes < 4 || o.IndexBytes > sha256.Size:
		return nil, fmt.Errorf("fieldcrypt: index bytes %d not in 4..32", o.IndexBytes)
	}
	return &Crypter{o: o}, nil
}

// Domain tags keep the three uses of associated data and HMAC input apart.
const (
	adRandomized    = "fieldcrypt/1 pii\x00"
	adDeterministic = "fieldcrypt/1 deterministic\x00"
	adIndex         = "fieldcrypt/1 index\x00"
)

// randomizedAD binds a value to its field and record, length-prefixed so
// that no two (field, record) pairs share an encoding.
func randomizedAD(field, recordID string) []byte {
	b := make([]byte, 0, len(adRandomized)+len(field)+len(recordID)+2*binary.MaxVarintLen64)
	b = append(b, adRandomized...)
	b = binary.AppendUvarint(b, uint64(len(field)))
	b = append(b, field...)
	b = binary.AppendUvarint(b, uint64(len(recordID)))
	return append(b, recordID...)
}

// deterministicAD binds a value to its field only: binding the record too
// would make equal values differ between rows and defeat lookups.
func deterministicAD(field string) []byte {
	return append([]byte(adDeterministic), field...)
}

// Encrypt seals plaintext for the field of one record: the ciphertext
// decrypts only with the same field name and record id.
func (c *Crypter) Encrypt(recordID, field string, plaintext []byte) (string, error) {
	if c.o.Keyring == nil {
		return "", errors.New("fieldcrypt: encrypt: no keyring configured")
	}
	return c.o.Keyring.Encrypt(plaintext, randomizedAD(field, recordID))
}

// Decrypt opens what Encrypt sealed for the same record and field.
func (c *Crypter) Decrypt(recordID, field, ciphertext string) ([]byte, error) {
	if c.o.Keyring == nil {
		return nil, errors.New("fieldcrypt: decrypt: no keyring configured")
	}
	return c.o.Keyring.Decrypt(ciphertext, randomizedAD(field, recordID))
}

// EncryptDeterministic seals plaintext for a deterministic field. Use it
// to build the value of a lookup query (WHERE ssn = ?).
func (c *Crypter) EncryptDeterministic(field string, plaintext []byte) (string, error) {
	if c.o.Deterministic == nil {
		return "", errors.New("fieldcrypt: encrypt: no deterministic keyring configured")
	}
	return c.o.Deterministic.Encrypt(plaintext, deterministicAD(field))
}

// DecryptDeterministic opens what EncryptDeterministic sealed for the same field.
func (c *Crypter) DecryptDeterministic(field, ciphertext string) ([]byte, error) {
	if c.o.Deterministic == nil {
		return nil, errors.New("fieldcrypt: decrypt: no deterministic keyring configured")
	}
	return c.o.Deterministic.Decrypt(ciphertext, deterministicAD(field))
}

// BlindIndex returns the keyed, truncated HMAC-SHA256 of value for the
// named field, in unpadded base64url. Store it next to the sealed value and
// query by it (WHERE email_idx = ?); equal values give equal indexes, and
// without the index key they reveal nothing else.
func (c *Crypter) BlindIndex(field string, value []byte) (string, error) {
	if c.o.IndexKey == nil {
		return "", errors.New("fieldcrypt: blind index: no index key configured")
	}
	m := hmac.New(sha256.New, c.o.IndexKey)
	var n [binary.MaxVarintLen64]byte
	m.Write([]byte(adIndex))
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(field)))])
	m.Write([]byte(field))
	m.Write(value)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:c.o.IndexBytes]), nil
}

// plan is how one struct type's tagged fields are sealed.
type plan struct {
	fields []fieldPlan
}

type fieldPlan struct {
	index int    // in the struct
	name  string // in the associated data and the blind index
	kind  fieldKind
	// source is the index of the field a blind index is computed from.
	source int
}

type fieldKind int

const (
	kindRandomized fieldKind = iota
	kindDeterministic
	kindBlind
)

// planFor parses the fieldcrypt tags of t once.
func (c *Crypter) planFor(t reflect.Type) (*plan, error) {
	if p, ok := c.plans.Load(t); ok {
		return p.(*plan), nil
	}
	p := &plan{}
	names := map[string]int{} // Go field name → index, for blind= sources
	for i := range t.NumField() {
		names[t.Field(i).Name] = i
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("fieldcrypt")
		if !ok || tag == "-" {
			// Tags inside a nested struct are not followed; refusing them
			// beats leaving that PII in plaintext without a word.
			if hasTags(f.Type, 0) {
				return nil, fmt.Errorf("fieldcrypt: %s.%s: nested structs with fieldcrypt tags are not supported: seal them on their own", t.Name(), f.Name)
			}
			continue
		}
		if f.Type.Kind() != reflect.String || !f.IsExported() {
			return nil, fmt.Errorf("fieldcrypt: %s.%s: tagged fields must be exported strings", t.Name(), f.Name)
		}
		fp, err := parseTag(tag, f.Name, names, t)
		if err != nil {
			return nil, fmt.Errorf("fieldcrypt: %s.%s: %w", t.Name(), f.Name, err)
		}
		fp.index = i
		p.fields = append(p.fields, fp)
	}
	// Blind indexes name their source by its sealing name.
	for i, fp := range p.fields {
		if fp.kind == kindBlind {
			p.fields[i].name = sealingName(t.Field(fp.source))
		}
	}
	actual, _ := c.plans.LoadOrStore(t, p)
	return actual.(*plan), nil
}

// hasTags reports whether t (a struct, or a pointer to one) has fieldcrypt
// tags at any depth up to a small bound.
func hasTags(t reflect.Type, depth int) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 4 {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if _, ok := f.Tag.Lookup("fieldcrypt"); ok || hasTags(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// parseTag reads `pii`, `pii,deterministic`, `pii,name=email` or `blind=Email`.
func parseTag(tag, goName string, names map[string]int, t reflect.Type) (fieldPlan, error) {
	parts := strings.Split(tag, ",")
	if src, ok := strings.CutPrefix(parts[0], "blind="); ok {
		i, found := names[src]
		if !found || len(parts) > 1 || t.Field(i).Type.Kind() != reflect.String {
			return fieldPlan{}, fmt.Errorf("tag %q: blind=FIELD must name a string field of the struct and take no options", tag)
		}
		return fieldPlan{kind: kindBlind, source: i}, nil
	}
	if parts[0] != "pii" {
		return fieldPlan{}, fmt.Errorf("tag %q: want pii[,deterministic][,name=N] or blind=FIELD", tag)
	}
	fp := fieldPlan{kind: kindRandomized, name: goName}
	for _, opt := range parts[1:] {
		switch {
		case opt == "deterministic":
			fp.kind = kindDeterministic
		case strings.HasPrefix(opt, "name=") && len(opt) > len("name="):
			fp.name = opt[len("name="):]
		default:
			return fieldPlan{}, fmt.Errorf("tag %q: unknown option %q", tag, opt)
		}
	}
	return fp, nil
}

// sealingName is the name= of a field's tag, or its Go name.
func sealingName(f reflect.StructField) string {
	for _, opt := range strings.Split(f.Tag.Get("fieldcrypt"), ",")[1:] {
		if n, ok := strings.CutPrefix(opt, "name="); ok && n != "" {
			return n
		}
	}
	return f.Name
}

// structOf checks that v is a non-nil pointer to a struct.
func (c *Crypter) structOf(v any) (reflect.Value, *plan, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, nil, fmt.Errorf("fieldcrypt: want a non-nil pointer to a struct, got %T", v)
	}
	p, err := c.planFor(rv.Elem().Type())
	return rv.Elem(), p, err
}

// Seal replaces the plaintext of v's tagged fields with ciphertexts bound
// to recordID and computes its blind indexes. v is a pointer to a struct.
// Empty fields stay empty (an absent value is not encrypted). On error v
// is unchanged. Sealing a value that is already a ciphertext is refused,
// so that a double Seal cannot go unnoticed.
func (c *Crypter) Seal(recordID string, v any) error {
	sv, p, err := c.structOf(v)
	if err != nil {
		return err
	}
	out := make([]string, len(p.fields))
	for i, fp := range p.fields {
		var src string
		if fp.kind == kindBlind {
			src = sv.Field(fp.source).String()
		} else {
			src = sv.Field(fp.index).String()
		}
		if src == "" {
			continue
		}
		switch fp.kind {
		case kindBlind:
			out[i], err = c.BlindIndex(fp.name, []byte(src))
		case kindRandomized, kindDeterministic:
			if strings.HasPrefix(src, Prefix) {
				return fmt.Errorf("fieldcrypt: seal %s: already sealed", fp.name)
			}
			out[i], err = c.encrypt(fp, recordID, []byte(src))
		}
		if err != nil {
			return fmt.Errorf("fieldcrypt: seal %s: %w", fp.name, err)
		}
	}
	for i, fp := range p.fields {
		sv.Field(fp.index).SetString(out[i])
	}
	return nil
}

// Open replaces the ciphertexts in v's sealed fields with their plaintext;
// blind indexes stay as they are. On error v is unchanged.
func (c *Crypter) Open(recordID string, v any) error {
	sv, p, err := c.structOf(v)
	if err != nil {
		return err
	}
	out := make([]string, len(p.fields))
	for i, fp := range p.fields {
		if fp.kind == kindBlind {
			continue
		}
		ct := sv.Field(fp.index).String()
		if ct == "" {
			continue
		}
		pt, err := c.decrypt(fp, recordID, ct)
		if err != nil {
			return fmt.Errorf("fieldcrypt: open %s: %w", fp.name, err)
		}
		out[i] = string(pt)
	}
	for i, fp := range p.fields {
		if fp.kind != kindBlind {
			sv.Field(fp.index).SetString(out[i])
		}
	}
	return nil
}

// Rotate re-encrypts under the primary version every sealed field of v
// that an older version sealed, and reports whether it changed anything
// (then write the record back). Run it over a table after a rotation;
// once no value uses an old version, that version can be retired. On
// error v is unchanged.
func (c *Crypter) Rotate(recordID string, v any) (changed bool, err error) {
	sv, p, err := c.structOf(v)
	if err != nil {
		return false, err
	}
	out := make([]string, len(p.fields))
	for i, fp := range p.fields {
		ct := sv.Field(fp.index).String()
		out[i] = ct
		if fp.kind == kindBlind || ct == "" {
			continue
		}
		k := c.keyring(fp)
		if k == nil {
			return false, fmt.Errorf("fieldcrypt: rotate %s: no keyring configured", fp.name)
		}
		ver, err := Version(ct)
		if err != nil {
			return false, fmt.Errorf("fieldcrypt: rotate %s: %w", fp.name, err)
		}
		if ver == k.PrimaryVersion() {
			continue
		}
		pt, err := c.decrypt(fp, recordID, ct)
		if err != nil {
			return false, fmt.Errorf("fieldcrypt: rotate %s: %w", fp.name, err)
		}
		if out[i], err = c.encrypt(fp, recordID, pt); err != nil {
			return false, fmt.Errorf("fieldcrypt: rotate %s: %w", fp.name, err)
		}
		changed = true
	}
	for i, fp := range p.fields {
		sv.Field(fp.index).SetString(out[i])
	}
	return changed, nil
}

func (c *Crypter) keyring(fp fieldPlan) Keyring {
	if fp.kind == kindDeterministic {
		return c.o.Deterministic
	}
	return c.o.Keyring
}

func (c *Crypter) encrypt(fp fieldPlan, recordID string, pt []byte) (string, error) {
	if fp.kind == kindDeterministic {
		return c.EncryptDeterministic(fp.name, pt)
	}
	return c.Encrypt(recordID, fp.name, pt)
}

func (c *Crypter) decrypt(fp fieldPlan, recordID, ct string) ([]byte, error) {
	if fp.kind == kindDeterministic {
		return c.DecryptDeterministic(fp.name, ct)
	}
	return c.Decrypt(recordID, fp.name, ct)
}
