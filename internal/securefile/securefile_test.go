package securefile

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestWriteAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret")
	if _, err := Write(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := ReadPrivate("secret", path, 16)
	if err != nil || string(b) != "two" {
		t.Fatalf("%q %v", b, err)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(filepath.Dir(path))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("modes %v %v", fi.Mode(), di.Mode())
	}
	if _, err := ReadPrivate("secret", path, 2); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("oversized read: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := ReadPrivate("secret", path, 16); err == nil || !strings.Contains(err.Error(), "accessible by group or others") {
		t.Fatalf("0644 accepted: %v", err)
	}
	if _, err := ReadPrivate("secret", filepath.Dir(path), 16); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory accepted: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// Create never replaces: racing creators all end with the first content.
func TestCreateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pepper")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := Create(path, []byte{byte('a' + i)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d creators won", created)
	}
	b, _ := os.ReadFile(path)
	if ok, _ := Create(path, []byte("z")); ok {
		t.Fatal("Create replaced a file")
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Fatal("content changed")
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	os.WriteFile(filepath.Join(filepath.Dir(path), TempPrefix(path)+"123"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(filepath.Dir(path), "other"), []byte("keep"), 0o600)
	RemoveStaleTemps(path)
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 || ents[0].Name() != "other" {
		t.Fatalf("left %v", ents)
	}
}
