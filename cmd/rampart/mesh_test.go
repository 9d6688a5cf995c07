package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/internal/mesh"
)

func TestMeshCmdRefusesInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"invalid", "service: spiffe://mesh.test/accounts\nlisten: 127.0.0.1:0\napp: 10.0.0.5:8080\ninbound:\n  - caller: orders\n    methods: [GET]\n    paths: [/x]\n",
			"invalid.yaml:3: app: \"10.0.0.5:8080\": must be a loopback"},
		{"unknown key", "service: spiffe://mesh.test/accounts\nlisten: 127.0.0.1:0\napp: 127.0.0.1:8080\nallow_all: true\n", "field allow_all not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			var stdout, stderr bytes.Buffer
			cmd := meshCmd(&stdout, &stderr)
			cmd.SetArgs([]string{"--config", path, "--ca", "https://127.0.0.1:1", "--bundle", path})
			cmd.SetOut(&stdout)
			cmd.SetErr(&stderr)
			var ee exitError
			if err := cmd.Execute(); !errors.As(err, &ee) || ee.code != 1 {
				t.Fatalf("err %v", err)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), tc.want)
			}
			if tc.name == "invalid" && !strings.Contains(stderr.String(), "invalid.yaml:5: inbound[0].caller") {
				t.Fatalf("not every problem is listed: %q", stderr.String())
			}
		})
	}
}

// `rampart mesh` joins a real CA with a join token and serves callers.
func TestMeshCmdServes(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("mesh.test")
	kek := make([]byte, identity.KEKSize)
	rand.Read(kek)
	ca, err := identity.Init(t.TempDir(), kek, td)
	if err != nil {
		t.Fatal(err)
	}
	caLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	caDone := make(chan error, 1)
	go func() { caDone <- ca.Serve(ctx, caLn, log.New(io.Discard, "", 0)) }()

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get(mesh.CallerHeader))
	}))
	defer app.Close()
	dir := t.TempDir()
	cfgPath, bundlePath, tokenPath := filepath.Join(dir, "mesh.yaml"), filepath.Join(dir, "bundle.pem"), filepath.Join(dir, "token")
	os.WriteFile(cfgPath, []byte("service: spiffe://mesh.test/accounts\nlisten: 127.0.0.1:0\napp: "+strings.TrimPrefix(app.URL, "http://")+
		"\ninbound:\n  - caller: spiffe://mesh.test/orders\n    methods: [GET]\n    paths: [\"/accounts/{id}\"]\n"), 0o600)
	os.WriteFile(bundlePath, identity.BundlePEM(ca.Bundle()), 0o600)
	tok, err := ca.NewJoinToken(spiffeid.RequireFromPath(td, "/accounts"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tokenPath, []byte(tok+"\n"), 0o600)

	out, outW := io.Pipe()
	var stderr bytes.Buffer
	cmd := meshCmd(outW, &stderr)
	cmd.SilenceUsage = true
	cmd.SetArgs([]string{"--config", cfgPath, "--ca", "https://" + caLn.Addr().String(), "--bundle", bundlePath,
		"--join-token-file", tokenPath, "--svid-dir", filepath.Join(dir, "svid"), "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); outW.Close() }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		<-caDone
	}()

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%v; stderr: %s", err, stderr.String())
	}
	go io.Copy(io.Discard, out)
	_, after, ok := strings.Cut(line, "inbound on ")
	addr, _, _ := strings.Cut(after, ",")
	if !ok || addr == "" {
		t.Fatalf("no inbound address in %q", line)
	}
	svid, err := ca.NewSVID(context.Background(), spiffeid.RequireFromPath(td, "/orders"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/accounts/7")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "spiffe://mesh.test/orders" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "svid", "svid.pem")); err != nil {
		t.Errorf("SVID not kept: %v", err)
	}
}
