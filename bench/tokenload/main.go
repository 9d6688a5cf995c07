// Command tokenload measures the token service under load: client-credentials
// grants and introspections per second against `rampart token serve` (SQLite
// store, TLS), and, in the same run, the same requests against a baseline
// HTTPS server that answers every request with a fixed token response, so
// that the harness's own ceiling (TLS, HTTP, the load generator on the same
// machine) is visible next to the token service's figures.
//
// Usage:
//
//	tokenload -rampart bin/rampart [-duration 10s] [-conns 16]
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/bench/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("tokenload: %v", err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tokenload", flag.ContinueOnError)
	bin := fs.String("rampart", "bin/rampart", "the rampart binary")
	duration := fs.Duration("duration", 10*time.Second, "length of each measured phase (at most 2m)")
	conns := fs.Int("conns", 16, "concurrent clients (1..256)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration <= 0 || *duration > 2*time.Minute || *conns < 1 || *conns > 256 {
		return errors.New("want a duration up to 2m and 1..256 conns")
	}
	dir, err := os.MkdirTemp("", "rampart-tokenload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return err
	}
	kek := filepath.Join(dir, "kek")
	if err := os.WriteFile(kek, []byte("c2VjcmV0LWtleS1lbmNyeXB0aW9uLWtleS0zMi1ieXQ=\n"), 0o600); err != nil {
		return err
	}
	issuer := "https://" + addr
	cfg := fmt.Sprintf("log: {level: warn}\ntoken:\n  listen: %q\n  issuer: %q\n  name: bench\n  kek_file: %q\n", addr, issuer, kek)
	cfgPath := filepath.Join(dir, "token.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	store := filepath.Join(dir, "data", "token", "token.db")
	if err := os.MkdirAll(filepath.Dir(store), 0o700); err != nil {
		return err
	}
	create := exec.Command(*bin, "token", "clients", "create", "bench", "--scopes", "orders:read", "--audiences", "api",
		"--store", store, "--key-file", kek)
	create.Stderr = io.Discard
	out, err := create.Output() // the secret alone goes to stdout
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	secret := strings.TrimSpace(string(out))
	if secret == "" {
		return errors.New("no secret printed for the client")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, *bin, "token", "serve", "--config", cfgPath, "--data-dir", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	roots := x509.NewCertPool()
	client := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: *conns}}
	}
	// The development CA appears once the service has started.
	caFile := filepath.Join(dir, "data", "dev-ca", "dev-ca.crt")
	ready := false
	for range 100 {
		if pem, err := os.ReadFile(caFile); err == nil && roots.AppendCertsFromPEM(pem) {
			if resp, err := client().Get(issuer + "/.well-known/openid-configuration"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusOK
			}
		}
		if ready {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ready {
		return errors.New("the token service did not become ready")
	}

	grant := func(base string) func(*http.Client) (int, string) {
		body := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}.Encode()
		return func(c *http.Client) (int, string) {
			req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("bench", secret)
			resp, err := c.Do(req)
			if err != nil {
				return 0, ""
			}
			defer resp.Body.Close()
			var t struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&t)
			return resp.StatusCode, t.AccessToken
		}
	}
	_, tok := grant(issuer)(client())
	if tok == "" {
		return errors.New("the token service issued no token")
	}
	introspect := func(base string) func(*http.Client) (int, string) {
		body := url.Values{"token": {tok}}.Encode()
		return func(c *http.Client) (int, string) {
			req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/introspect", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("bench", secret)
			resp, err := c.Do(req)
			if err != nil {
				return 0, ""
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, ""
		}
	}

	ok := func(do func(*http.Client) (int, string)) func(*http.Client) bool {
		return func(c *http.Client) bool { status, _ := do(c); return status == http.StatusOK }
	}
	base, stop, err := baseline(caFile, tok)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("tokenload: %d clients, %s per phase; load generator, baseline and token service share this machine\n", *conns, *duration)
	fmt.Printf("| phase | baseline (static answer) req/s | rampart token req/s | ratio |\n|---|---:|---:|---:|\n")
	for _, ph := range []struct {
		name string
		fn   func(string) func(*http.Client) (int, string)
	}{{"client_credentials", grant}, {"introspection", introspect}} {
		b, err := loadgen.Run(ok(ph.fn(base)), client, *conns, *duration)
		if err != nil {
			return fmt.Errorf("baseline %s: %w", ph.name, err)
		}
		r, err := loadgen.Run(ok(ph.fn(issuer)), client, *conns, *duration)
		if err != nil {
			return fmt.Errorf("%s: %w", ph.name, err)
		}
		fmt.Printf("| %s | %.0f | %.0f | %.2f× |\n", ph.name, b, r, r/b)
	}
	return nil
}

// baseline serves, with the same development certificate, a fixed answer of
// the token response's size: the ceiling the harness can measure.
func baseline(caFile, tok string) (string, func(), error) {
	dir := filepath.Dir(caFile)
	var certFile, keyFile string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".crt") && e.Name() != filepath.Base(caFile) && certFile == "":
			certFile = filepath.Join(dir, e.Name())
		case strings.HasSuffix(e.Name(), ".key") && !strings.Contains(e.Name(), "ca") && keyFile == "":
			keyFile = filepath.Join(dir, e.Name())
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", nil, fmt.Errorf("baseline certificate from %s: %w", dir, err)
	}
	answer, _ := json.Marshal(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 300, "scope": "orders:read"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			io.Copy(w, bytes.NewReader(answer))
		})}
	go srv.ServeTLS(ln, "", "")
	return "https://" + ln.Addr().String(), func() { srv.Close() }, nil
}
