package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// identity checks the workload identity section and the upstreams that use it.
func (v *validator) identity(id *Identity, ups map[string]*Upstream) {
	set := *id != Identity{}
	if set {
		if _, err := spiffeid.TrustDomainFromString(id.TrustDomain); err != nil {
			v.errorf("identity.trust_domain", "%s is not a trust domain name (lowercase letters, digits, '.', '-' and '_'): %v", v.q("identity.trust_domain", id.TrustDomain), err)
		}
		if u, err := url.Parse(id.CA); err != nil || u.Host == "" || (u.Scheme != "https") || u.Path != "" && u.Path != "/" {
			v.errorf("identity.ca", "must be the https base URL of `rampart ca serve` (e.g. https://ca.internal:8445), got %s", v.q("identity.ca", id.CA))
		}
		if id.BundleFile == "" {
			v.errorf("identity.bundle_file", "is required: the CA's root certificates (`rampart ca bundle`), which authenticate the CA")
		}
		if id.JoinToken != "" && !v.expanded("identity.join_token") {
			v.errorf("identity.join_token", "must come from the environment: write it as ${NAME}")
		}
		if (id.CertFile == "") != (id.KeyFile == "") {
			v.errorf("identity.cert_file", "cert_file and key_file go together")
		}
	}
	for _, name := range sortedKeys(ups) {
		u := ups[name]
		if u == nil || u.MTLS.SPIFFEID == "" {
			continue
		}
		p := joinKey("upstreams", name) + ".mtls.spiffe_id"
		sid, err := spiffeid.FromString(u.MTLS.SPIFFEID)
		switch {
		case err != nil:
			v.errorf(p, "%s is not a SPIFFE ID (spiffe://trust-domain/path): %v", v.q(p, u.MTLS.SPIFFEID), err)
		case !set:
			v.errorf(p, "needs the identity section: the gateway's own certificate to present")
		case sid.TrustDomain().Name() != id.TrustDomain:
			v.errorf(p, "is in trust domain %q, not identity.trust_domain %q", sid.TrustDomain().Name(), id.TrustDomain)
		}
		for i, t := range u.Targets {
			if !strings.HasPrefix(strings.ToLower(t), "https://") {
				v.errorf(joinKey("upstreams", name)+".targets", "targets[%d] must be https:// with mtls (no plaintext fallback)", i)
				break
			}
		}
		if u.TLS.CAFile != "" || u.TLS.ServerName != "" {
			v.errorf(joinKey("upstreams", name)+".tls", "does not combine with mtls: the trust bundle and the SPIFFE ID decide whom to trust")
		}
	}
}

// transit checks the transit API section against the issuers.
func (v *validator) transit(tr *Transit, issuers []Issuer) {
	if len(tr.Issuers) == 0 {
		for _, k := range []string{"dir", "kek_file", "max_batch"} {
			if v.has("transit." + k) {
				v.errorf("transit.issuers", "is required in transit (whose client-credentials tokens the API accepts)")
				break
			}
		}
		return
	}
	byName := make(map[string]*Issuer, len(issuers))
	for i := range issuers {
		byName[issuers[i].Name] = &issuers[i]
	}
	for i, name := range tr.Issuers {
		p := fmt.Sprintf("transit.issuers[%d]", i)
		is := byName[name]
		switch {
		case is == nil:
			v.errorf(p, "%s is not defined in issuers", v.q(p, name))
		case is.JWKSURI == "" && is.JWKSFile == "" && is.HMACSecret == "":
			v.errorf(p, "issuer %s has no key set: the transit API verifies JWT access tokens", name)
		}
	}
	if v.has("transit.max_batch") && (tr.MaxBatch < 1 || tr.MaxBatch > 10000) {
		v.errorf("transit.max_batch", "must be between 1 and 10000")
	}
}

// token checks the token service section.
func (v *validator) token(t *TokenService) {
	if t.Listen == "" {
		if *t != (TokenService{}) {
			v.errorf("token.listen", "is required in token (the address `rampart token serve` listens on)")
		}
		return
	}
	v.addr("token.listen", t.Listen)
	if u, err := url.Parse(t.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || strings.HasSuffix(t.Issuer, "/") {
		v.errorf("token.issuer", "must be the https URL clients reach the token service at, without a path or trailing slash (e.g. https://id.example.com), got %s", v.q("token.issuer", t.Issuer))
	}
	if t.Name != "" && !upstreamName(t.Name) {
		v.errorf("token.name", "%s is not a valid name (lowercase letters, digits, '_' and '-')", v.q("token.name", t.Name))
	}
	if (t.Cert == "") != (t.Key == "") {
		v.errorf("token.cert", "cert and key go together")
	}
	switch t.SigningAlg {
	case "", "EdDSA", "ES256":
	default:
		v.errorf("token.signing_alg", `must be "EdDSA" or "ES256", got %s`, v.q("token.signing_alg", t.SigningAlg))
	}
	if d := t.AccessTokenTTL.Std(); d != 0 && (d < time.Minute || d > 24*time.Hour) {
		v.errorf("token.access_token_ttl", "must be between 1m and 24h (short access tokens limit what a stolen one can do)")
	}
	if d := t.IDTokenTTL.Std(); d != 0 && (d < time.Minute || d > 24*time.Hour) {
		v.errorf("token.id_token_ttl", "must be between 1m and 24h")
	}
	if d := t.RefreshTokenTTL.Std(); d != 0 && (d < time.Hour || d > 365*24*time.Hour) {
		v.errorf("token.refresh_token_ttl", "must be between 1h and 8760h")
	}
	if d := t.RefreshGrace.Std(); d < 0 || d > time.Minute {
		v.errorf("token.refresh_grace", "must be between 0s and 1m (0: the default, 10s)")
	}
}
