package apikey

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreatePepper(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "pepper")
	p1, err := LoadOrCreatePepper(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p1) != PepperSize || bytes.Equal(p1, make([]byte, PepperSize)) {
		t.Fatalf("pepper = %x", p1)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pepper file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("pepper directory mode %v, %v; want 0700", fi.Mode(), err)
	}
	p2, err := LoadOrCreatePepper(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1, p2) {
		t.Fatal("second load returned another pepper")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the pepper", len(ents))
	}
}

func TestLoadOrCreatePepperRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"group-readable", make([]byte, PepperSize), 0o640, "group or others"},
		{"world-readable", make([]byte, PepperSize), 0o604, "group or others"},
		{"group-writable", make([]byte, PepperSize), 0o620, "group or others"},
		{"short", make([]byte, PepperSize-1), 0o600, "want exactly 32"},
		{"long", make([]byte, PepperSize+1), 0o600, "want exactly 32"},
		{"empty", nil, 0o600, "want exactly 32"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		p, err := LoadOrCreatePepper(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: LoadOrCreatePepper = %x, %v; want an error naming the path and %q", tt.name, p, err, tt.want)
		}
		if data, _ := os.ReadFile(path); !bytes.Equal(data, tt.data) {
			t.Errorf("%s: the refused file was changed", tt.name)
		}
	}
	if _, err := LoadOrCreatePepper(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as pepper: %v", err)
	}
}

// TestLoadOrCreatePepperRace: processes starting together must all end up
// with the same pepper, or keys created by one would not verify in another.
func TestLoadOrCreatePepperRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pepper")
	const n = 8
	peppers := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { peppers[i], errs[i] = LoadOrCreatePepper(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(peppers[i], peppers[0]) {
			t.Fatalf("caller %d got a different pepper", i)
		}
	}
}

func TestDecodeSecretMatchesStrictBase64(t *testing.T) {
	for range 1000 {
		key, _, secret, err := newKey()
		if err != nil {
			t.Fatal(err)
		}
		var got [secretSize]byte
		id, ok := parseKey(key, &got)
		if !ok || got != secret || id != key[3:19] {
			t.Fatalf("parseKey(%q) = %q, %x, %v; want %x", key, id, got, ok, secret)
		}
	}
}

// TestConcurrentProcessesLoseNothing runs real CLI-like processes (this
// test binary re-executed) creating keys in one store at the same time.
func TestConcurrentProcessesLoseNothing(t *testing.T) {
	const perProcess, processes = 10, 3
	if dir := os.Getenv("APIKEY_TEST_CHILD_DIR"); dir != "" {
		pepper, err := LoadOrCreatePepper(filepath.Join(dir, "pepper"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(filepath.Join(dir, "keys.json"), pepper)
		if err != nil {
			t.Fatal(err)
		}
		for i := range perProcess {
			if _, _, err := s.Create(fmt.Sprintf("%s-%d", os.Getenv("APIKEY_TEST_CHILD_NAME"), i), nil, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for p := range processes {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentProcessesLoseNothing$", "-test.count=1")
		cmd.Env = append(os.Environ(), "APIKEY_TEST_CHILD_DIR="+dir, fmt.Sprintf("APIKEY_TEST_CHILD_NAME=p%d", p))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child process: %v", err)
		}
	}
	pepper, err := LoadOrCreatePepper(filepath.Join(dir, "pepper"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "keys.json"), pepper)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.List()); n != perProcess*processes {
		t.Fatalf("store holds %d keys, want %d", n, perProcess*processes)
	}
}
