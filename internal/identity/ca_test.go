package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
)

func TestKEKRequiredAndChecked(t *testing.T) {
	tc := newTestCA(t)
	if _, err := Open(tc.dir, nil); !errors.Is(err, ErrNoKEK) {
		t.Fatalf("open without KEK: %v", err)
	}
	if _, err := ParseKEK(""); !errors.Is(err, ErrNoKEK) || !strings.Contains(err.Error(), KEKEnv) {
		t.Fatalf("empty KEK: %v", err)
	}
	if _, err := ParseKEK("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Fatalf("short KEK: %v", err)
	}
	if _, err := ParseKEK("not base64 at all!"); err == nil || strings.Contains(err.Error(), "not base64 at all") {
		t.Fatalf("bad KEK accepted or echoed: %v", err)
	}
	if k, err := ParseKEK(" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"); err != nil || len(k) != KEKSize {
		t.Fatalf("good KEK: %v", err)
	}
	wrong := make([]byte, KEKSize)
	if _, err := Open(tc.dir, wrong); err == nil || !strings.Contains(err.Error(), "wrong key-encryption key") {
		t.Fatalf("wrong KEK: %v", err)
	}
	if _, err := Init(tc.dir, tc.kek, testTD); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	if _, err := Open(t.TempDir(), tc.kek); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("open empty dir: %v", err)
	}
	ca, err := Open(tc.dir, tc.kek)
	if err != nil || !ca.Bundle().Equal(tc.Bundle()) {
		t.Fatalf("reopen: %v", err)
	}
}

// The state file is private and holds no key in the clear.
func TestStateFileSealed(t *testing.T) {
	tc := newTestCA(t)
	path := filepath.Join(tc.dir, stateFileName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "PRIVATE KEY") {
		t.Fatal("state file holds a PEM private key")
	}
	st := tc.state()
	for _, a := range append(st.roots, st.intermediates...) {
		der, _ := x509.MarshalPKCS8PrivateKey(a.key)
		if strings.Contains(string(b), string(der[len(der)-32:])) {
			t.Fatal("state file holds key bytes in the clear")
		}
	}
	// A key moved to another entry does not unseal (the AAD binds it to its certificate).
	var f fileState
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	f.Roots[0].Key, f.Intermediates[0].Key = f.Intermediates[0].Key, f.Roots[0].Key
	swapped, _ := json.Marshal(f)
	if _, err := tc.unmarshal(swapped); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Fatalf("swapped keys accepted: %v", err)
	}
}

func TestIssuedLeafCarriesOnlyTheSPIFFEID(t *testing.T) {
	tc := newTestCA(t)
	id := spiffeid.RequireFromPath(testTD, "/orders")
	svid, err := tc.NewSVID(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := svid.Certificates[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.String() || len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 {
		t.Fatalf("SANs: %v %v %v %v", leaf.URIs, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses)
	}
	if leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Fatalf("CA %v key usage %v", leaf.IsCA, leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 2 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || leaf.ExtKeyUsage[1] != x509.ExtKeyUsageClientAuth {
		t.Fatalf("EKU %v", leaf.ExtKeyUsage)
	}
	if life := time.Until(leaf.NotAfter); life < DefaultLeafTTL-time.Minute || life > DefaultLeafTTL {
		t.Fatalf("lifetime %v", life)
	}
	got, _, err := x509svid.Verify(svid.Certificates, tc.Bundle())
	if err != nil || got != id {
		t.Fatalf("verify: %v %v", got, err)
	}
	if e, ok := tc.ev.has(SVIDIssued, "direct"); !ok || e.Principal != id.String() {
		t.Fatalf("no issuance event: %+v", tc.ev.evs)
	}
}

func TestIssueRefuses(t *testing.T) {
	tc := newTestCA(t)
	ctx := context.Background()
	p256 := newKey(t).Public()
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name string
		id   spiffeid.ID
		pub  any
		ttl  time.Duration
		want error
	}{
		{"other trust domain", spiffeid.RequireFromString("spiffe://other.test/orders"), p256, 0, ErrTrustDomain},
		{"reserved", spiffeid.RequireFromPath(testTD, "/rampart/ca"), p256, 0, ErrReservedID},
		{"reserved root", spiffeid.RequireFromPath(testTD, "/rampart"), p256, 0, ErrReservedID},
		{"too long", spiffeid.RequireFromPath(testTD, "/orders"), p256, DefaultMaxLeafTTL + time.Second, ErrTTL},
		{"negative", spiffeid.RequireFromPath(testTD, "/orders"), p256, -time.Second, ErrTTL},
		{"P-224", spiffeid.RequireFromPath(testTD, "/orders"), p224.Public(), 0, ErrKeyType},
		{"RSA 1024", spiffeid.RequireFromPath(testTD, "/orders"), rsa1024.Public(), 0, ErrKeyType},
	}
	for _, c := range cases {
		if _, err := tc.Issue(ctx, c.id, c.pub, c.ttl); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := tc.Issue(ctx, testTD.ID(), p256, 0); err == nil {
		t.Error("trust domain ID without path issued")
	}
	if _, err := tc.Issue(ctx, spiffeid.RequireFromPath(testTD, "/ed"), edPub, 0); err != nil {
		t.Errorf("Ed25519: %v", err)
	}
	if e, ok := tc.ev.has(IssueRefused, ReasonReservedID); !ok || e.Severity != event.Medium {
		t.Errorf("no refusal event: %+v", e)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tc.Issue(cctx, spiffeid.RequireFromPath(testTD, "/orders"), p256, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestRotateIntermediateKeepsOldSVIDsValid(t *testing.T) {
	tc := newTestCA(t)
	ctx := context.Background()
	id := spiffeid.RequireFromPath(testTD, "/orders")
	old, _ := tc.NewSVID(ctx, id, 0)
	if err := tc.RotateIntermediate(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := tc.NewSVID(ctx, id, 0)
	if old.Certificates[1].Equal(cur.Certificates[1]) {
		t.Fatal("same intermediate after rotation")
	}
	for _, s := range []*x509svid.SVID{old, cur} {
		if _, _, err := x509svid.Verify(s.Certificates, tc.Bundle()); err != nil {
			t.Fatalf("chain not trusted after rotation: %v", err)
		}
	}
	st := tc.state()
	if len(st.intermediates) != 1 || len(st.roots) != 1 {
		t.Fatalf("old intermediate kept: %d intermediates, %d roots", len(st.intermediates), len(st.roots))
	}
	reopened, err := Open(tc.dir, tc.kek)
	if err != nil {
		t.Fatal(err)
	}
	if !reopened.state().signer(time.Now()).cert.Equal(cur.Certificates[1]) {
		t.Fatal("rotation not persisted")
	}
	if _, ok := tc.ev.has(CARotated, "intermediate"); !ok {
		t.Fatal("no rotation event")
	}
}

func TestRotateRootOverlap(t *testing.T) {
	tc := newTestCA(t, WithMaxLeafTTL(2*time.Hour))
	ctx := context.Background()
	id := spiffeid.RequireFromPath(testTD, "/orders")
	oldRoot := tc.Bundle().X509Authorities()[0]
	if err := tc.RotateRoot(ctx, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(tc.Bundle().X509Authorities()); n != 2 {
		t.Fatalf("bundle during overlap has %d roots", n)
	}
	before, _ := tc.NewSVID(ctx, id, 0)
	if err := before.Certificates[1].CheckSignatureFrom(oldRoot); err != nil {
		t.Fatal("new root signs before its activation")
	}
	tc.clock.advance(11 * time.Minute)
	after, _ := tc.NewSVID(ctx, id, 0)
	if after.Certificates[1].CheckSignatureFrom(oldRoot) == nil {
		t.Fatal("old root still signs after activation")
	}
	verifyAt := func(s *x509svid.SVID, at time.Time) error {
		_, _, err := x509svid.Verify(s.Certificates, tc.Bundle(), x509svid.WithTime(at))
		return err
	}
	if err := verifyAt(before, tc.clock.now()); err != nil {
		t.Fatalf("old chain refused during overlap: %v", err)
	}
	if err := verifyAt(after, tc.clock.now()); err != nil {
		t.Fatalf("new chain refused: %v", err)
	}
	tc.clock.advance(2*time.Hour + time.Minute)
	b := tc.Bundle().X509Authorities()
	if len(b) != 1 || b[0].Equal(oldRoot) {
		t.Fatal("old root still trusted after the overlap")
	}
	// The next rotation prunes the retired root from the state file.
	if err := tc.RotateIntermediate(ctx); err != nil {
		t.Fatal(err)
	}
	if st := tc.state(); len(st.roots) != 1 || len(st.intermediates) != 1 {
		t.Fatalf("after prune: %d roots, %d intermediates", len(st.roots), len(st.intermediates))
	}
}

func TestReloadPicksUpRotationByAnotherProcess(t *testing.T) {
	tc := newTestCA(t)
	other, err := Open(tc.dir, tc.kek)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RotateRoot(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if len(tc.Bundle().X509Authorities()) != 1 {
		t.Fatal("state changed before reload")
	}
	if err := tc.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(tc.Bundle().X509Authorities()) != 2 {
		t.Fatal("reload missed the rotation")
	}
}

func BenchmarkIssue(b *testing.B) {
	tc := newTestCA(b)
	id := spiffeid.RequireFromPath(testTD, "/orders")
	pub := newKey(b).Public()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tc.Issue(ctx, id, pub, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRotateIntermediateIfDue(t *testing.T) {
	tc := newTestCA(t)
	ctx := context.Background()
	if rotated, err := tc.RotateIntermediateIfDue(ctx); rotated || err != nil {
		t.Fatalf("fresh intermediate rotated: %v %v", rotated, err)
	}
	tc.clock.advance(interLifetime - 30*24*time.Hour)
	if rotated, err := tc.RotateIntermediateIfDue(ctx); !rotated || err != nil {
		t.Fatalf("expiring intermediate not rotated: %v %v", rotated, err)
	}
	if rotated, _ := tc.RotateIntermediateIfDue(ctx); rotated {
		t.Fatal("rotated twice")
	}
	tc.clock.advance(rootLifetime - interLifetime)
	if rotated, err := tc.RotateIntermediateIfDue(ctx); rotated || err == nil || !strings.Contains(err.Error(), "rotate --root") {
		t.Fatalf("near root expiry: %v %v", rotated, err)
	}
}
