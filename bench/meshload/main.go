// Command meshload measures a request through the mesh sidecar (`rampart
// mesh`, inbound: mTLS with a client SVID, policy check, forward to the app on
// loopback) against the same request through a bare httputil.ReverseProxy
// (bench/bareproxy, plaintext), both in front of bench/upstream, in one run,
// with the same Go load generator using keep-alive connections.
//
// Usage:
//
//	meshload -rampart bin/rampart -bareproxy bin/bareproxy -upstream bin/upstream [-duration 10s] [-conns 16]
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/bench/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("meshload: %v", err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("meshload", flag.ContinueOnError)
	rampart := fs.String("rampart", "bin/rampart", "the rampart binary")
	bare := fs.String("bareproxy", "bin/bareproxy", "the bench/bareproxy binary")
	upstream := fs.String("upstream", "bin/upstream", "the bench/upstream binary")
	duration := fs.Duration("duration", 10*time.Second, "length of each measured phase (at most 2m)")
	conns := fs.Int("conns", 16, "concurrent keep-alive clients (1..256)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration <= 0 || *duration > 2*time.Minute || *conns < 1 || *conns > 256 {
		return errors.New("want a duration up to 2m and 1..256 conns")
	}
	dir, err := os.MkdirTemp("", "rampart-meshload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	start := func(env []string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		return nil
	}
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i * 7)
	}
	caEnv := []string{"RAMPART_CA_KEK=" + base64.StdEncoding.EncodeToString(kek)}
	ca := func(args ...string) (string, error) {
		cmd := exec.Command(*rampart, append([]string{"ca", "--dir", filepath.Join(dir, "ca"), "--log-level", "error"}, args...)...)
		cmd.Env = append(os.Environ(), caEnv...)
		cmd.Stderr = io.Discard
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("rampart ca %s: %w", args[0], err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := ca("init", "--trust-domain", "bench.local"); err != nil {
		return err
	}
	bundle, err := ca("bundle")
	if err != nil {
		return err
	}
	bundleFile := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundleFile, []byte(bundle+"\n"), 0o600); err != nil {
		return err
	}
	clientCert, clientKey := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if _, err := ca("issue", "--spiffe-id", "spiffe://bench.local/client", "--cert", clientCert, "--key", clientKey); err != nil {
		return err
	}
	tok, err := ca("token", "--spiffe-id", "spiffe://bench.local/app", "--ttl", "5m")
	if err != nil {
		return err
	}
	addrs := make([]string, 4)
	for i := range addrs {
		if addrs[i], err = loadgen.FreeAddr(); err != nil {
			return err
		}
	}
	caAddr, upAddr, meshAddr, bareAddr := addrs[0], addrs[1], addrs[2], addrs[3]
	if err := start(caEnv, *rampart, "ca", "--dir", filepath.Join(dir, "ca"), "--log-level", "error", "serve", "--listen", caAddr); err != nil {
		return err
	}
	if err := start(nil, *upstream, "-addr", upAddr); err != nil {
		return err
	}
	if err := start(nil, *bare, "-addr", bareAddr, "-upstream", "http://"+upAddr); err != nil {
		return err
	}
	meshCfg := filepath.Join(dir, "mesh.yaml")
	os.WriteFile(meshCfg, []byte(fmt.Sprintf(`service: spiffe://bench.local/app
listen: %q
app: %q
inbound:
  - caller: spiffe://bench.local/client
    methods: [GET]
    paths: ["/*"]
`, meshAddr, upAddr)), 0o600)
	if err := loadgen.WaitTCP(caAddr); err != nil {
		return err
	}
	if err := start([]string{"RAMPART_JOIN_TOKEN=" + tok}, *rampart, "mesh", "--config", meshCfg, "--ca", "https://"+caAddr,
		"--bundle", bundleFile, "--log-level", "error"); err != nil {
		return err
	}
	for _, a := range []string{upAddr, bareAddr, meshAddr} {
		if err := loadgen.WaitTCP(a); err != nil {
			return err
		}
	}

	cert, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(bundle))
	meshClient := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1,
			TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS13,
				// The server proves a SPIFFE ID, not a DNS name; the sidecar's
				// identity is pinned by the bundle and checked below.
				InsecureSkipVerify: true, VerifyConnection: verifyMesh(roots)}}}
	}
	bareClient := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	}
	fmt.Printf("meshload: %d keep-alive clients, %s per phase; everything shares this machine\n", *conns, *duration)
	fmt.Printf("| path | req/s | vs bare proxy |\n|---|---:|---:|\n")
	get := func(url string) func(*http.Client) bool {
		return func(c *http.Client) bool {
			resp, err := c.Get(url)
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
	}
	b, err := loadgen.Run(get("http://"+bareAddr+"/bench"), bareClient, *conns, *duration)
	if err != nil {
		return fmt.Errorf("bare proxy: %w", err)
	}
	m, err := loadgen.Run(get("https://"+meshAddr+"/bench"), meshClient, *conns, *duration)
	if err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	fmt.Printf("| bare httputil.ReverseProxy, plaintext | %.0f | 1.00× |\n", b)
	fmt.Printf("| rampart mesh inbound, mTLS + policy | %.0f | %.2f× |\n", m, m/b)
	return nil
}

// verifyMesh checks that the sidecar's certificate chains to the bundle
// and names the app's SPIFFE ID.
func verifyMesh(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no server certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return err
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://bench.local/app" {
			return errors.New("the server is not spiffe://bench.local/app")
		}
		return nil
	}
}
