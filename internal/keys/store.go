package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/rampart-sec/rampart/internal/securefile"
)

const (
	fileFormat = 1
	fileExt    = ".keyring"
	// maxFileSize bounds what a load reads: thousands of versions fit.
	maxFileSize = 4 << 20
)

// envelope is a keyring file: the body as written, and the KEK's seal
// over exactly those bytes (kept raw so that no re-encoding can change
// what the seal covers).
type envelope struct {
	Body json.RawMessage `json:"body"`
	Seal []byte          `json:"seal"`
}

type fileBody struct {
	Format               int           `json:"format"`
	Name                 string        `json:"name"`
	Type                 Type          `json:"type"`
	Primary              int           `json:"primary"`
	MinDecryptionVersion int           `json:"min_decryption_version"`
	Versions             []fileVersion `json:"versions"`
}

type fileVersion struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled"`
	Keyset   []byte    `json:"keyset"`
}

func sealAD(body []byte) []byte {
	return append([]byte("rampart keyring\x00"), body...)
}

// encodeFile seals b under kek.
func encodeFile(kek tink.AEAD, b *fileBody) ([]byte, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode key %q: %w", b.Name, err)
	}
	seal, err := kek.Encrypt(nil, sealAD(body))
	if err != nil {
		return nil, fmt.Errorf("seal key %q under the KEK: %w", b.Name, err)
	}
	// Not indented: indenting would re-format the body the seal covers.
	out, err := json.Marshal(envelope{Body: body, Seal: seal})
	if err != nil {
		return nil, fmt.Errorf("encode key %q: %w", b.Name, err)
	}
	return append(out, '\n'), nil
}

// decodeFile checks the seal of a keyring file, then its body, and
// decrypts every version. name is what the file name says.
func decodeFile(kek tink.AEAD, name string, data []byte) (*fileBody, *ring, error) {
	var env envelope
	if err := strictJSON(data, &env); err != nil {
		return nil, nil, fmt.Errorf("key %q: parse: %w", name, err)
	}
	// The seal is checked before the body is parsed: what we act on is
	// only ever what someone holding the KEK wrote.
	if _, err := kek.Decrypt(env.Seal, sealAD(env.Body)); err != nil {
		return nil, nil, fmt.Errorf("key %q: the key-encryption key does not open it (a different KEK, or the file was altered)", name)
	}
	var b fileBody
	if err := strictJSON(env.Body, &b); err != nil {
		return nil, nil, fmt.Errorf("key %q: parse body: %w", name, err)
	}
	if err := b.check(name); err != nil {
		return nil, nil, fmt.Errorf("key %q: %w", name, err)
	}
	r := &ring{
		info: Info{Name: b.Name, Type: b.Type, Primary: b.Primary, MinDecryptionVersion: b.MinDecryptionVersion,
			Versions: make([]VersionInfo, len(b.Versions))},
		prims: make(map[int]primitive, len(b.Versions)),
	}
	for i, v := range b.Versions {
		p, err := openVersion(kek, b.Name, b.Type, v.Version, v.Keyset)
		if err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", name, err)
		}
		r.prims[v.Version] = p
		r.info.Versions[i] = VersionInfo{Version: v.Version, Created: v.Created, Disabled: v.Disabled}
	}
	return &b, r, nil
}

func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// check enforces what the code relies on: versions 1..n in order, the
// primary enabled, the minimum decryption version at most the primary.
func (b *fileBody) check(name string) error {
	switch {
	case b.Format != fileFormat:
		return fmt.Errorf("unsupported format %d", b.Format)
	case b.Name != name:
		return fmt.Errorf("the file names key %q", b.Name)
	case b.Type != AEAD && b.Type != Deterministic:
		return fmt.Errorf("unknown type %q", b.Type)
	case len(b.Versions) == 0:
		return errors.New("no versions")
	case b.Primary < 1 || b.Primary > len(b.Versions):
		return fmt.Errorf("primary version %d does not exist", b.Primary)
	case b.Versions[b.Primary-1].Disabled:
		return fmt.Errorf("primary version %d is disabled", b.Primary)
	case b.MinDecryptionVersion < 1 || b.MinDecryptionVersion > b.Primary:
		return fmt.Errorf("minimum decryption version %d not in 1..%d", b.MinDecryptionVersion, b.Primary)
	}
	for i, v := range b.Versions {
		if v.Version != i+1 {
			return fmt.Errorf("version %d listed as number %d", v.Version, i+1)
		}
	}
	return nil
}

// loaded is a ring with the file it came from, to notice changes.
type loaded struct {
	ring *ring
	file fs.FileInfo
}

// readRing loads the keyring file at path, or returns fs.ErrNotExist.
func readRing(kek tink.AEAD, path, name string) (*fileBody, loaded, error) {
	// Stat before reading: if the file is replaced in between, the next
	// Reload sees a new file and reads it again.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, loaded{}, fmt.Errorf("stat keyring %s: %w", path, err)
	}
	data, err := securefile.ReadPrivate("keyring", path, maxFileSize)
	if err != nil {
		return nil, loaded{}, err
	}
	b, r, err := decodeFile(kek, name, data)
	if err != nil {
		return nil, loaded{}, err
	}
	return b, loaded{ring: r, file: fi}, nil
}

// scan lists the keyring names in dir.
func scan(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key directory: %w", err)
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), fileExt)
		if ok && e.Type().IsRegular() && ValidName(name) {
			names = append(names, name)
		}
	}
	return names, nil
}

func (m *Manager) path(name string) string { return filepath.Join(m.dir, name+fileExt) }
