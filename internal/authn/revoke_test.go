package authn

import (
	"fmt"
	"testing"
	"time"
)

func TestRevocationIndex(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var x revocationIndex
	x.add(Revocation{ClientID: "batch", IssuedBefore: now, Until: now.Add(time.Hour)}, now)
	x.add(Revocation{Issuer: "other", Subject: "alice", Until: now.Add(time.Hour)}, now)
	cases := []struct {
		name                     string
		issuer, jti, sub, client string
		iat                      time.Time
		want                     bool
	}{
		{"client token issued before", "idp", "j1", "svc", "batch", now.Add(-time.Minute), true},
		{"client token issued after", "idp", "j2", "svc", "batch", now.Add(time.Minute), false},
		{"subject revoked at another issuer only", "idp", "j3", "alice", "web", now, false},
		{"subject revoked at its issuer", "other", "j4", "alice", "web", now, true},
		{"unrelated", "idp", "j5", "bob", "web", now, false},
	}
	for _, c := range cases {
		if got := x.covers(now, c.issuer, c.jti, c.sub, c.client, c.iat); got != c.want {
			t.Errorf("%s: covered = %v, want %v", c.name, got, c.want)
		}
	}
	if x.covers(now.Add(2*time.Hour), "idp", "j1", "svc", "batch", now.Add(-time.Minute)) {
		t.Error("a revocation was applied after its Until")
	}

	// Expired revocations are swept out as new ones arrive, so a long-running
	// gateway does not grow without bound.
	for i := range 1000 {
		x.add(Revocation{TokenID: fmt.Sprint("old-", i), Until: now.Add(time.Minute)}, now)
	}
	later := now.Add(2 * time.Hour)
	for i := range 1000 {
		x.add(Revocation{TokenID: fmt.Sprint("new-", i), Until: later.Add(time.Hour)}, later)
	}
	if x.n > 1100 {
		t.Fatalf("%d revocations held after the expired ones should have been swept", x.n)
	}
	if !x.covers(later, "idp", "new-999", "", "", later) || x.covers(later, "idp", "old-1", "", "", now) {
		t.Fatal("sweeping lost a live revocation or kept an expired one")
	}
}

// BenchmarkRevokedCheck is the cost a verification pays when many
// revocations are live: it must not grow with their number.
func BenchmarkRevokedCheck(b *testing.B) {
	now := time.Now()
	var x revocationIndex
	for i := range 100_000 {
		x.add(Revocation{TokenID: fmt.Sprint("jti-", i), Until: now.Add(time.Hour)}, now)
	}
	b.ReportAllocs()
	for b.Loop() {
		if x.covers(now, "idp", "not-revoked", "alice", "web", now) {
			b.Fatal("covered")
		}
	}
}
