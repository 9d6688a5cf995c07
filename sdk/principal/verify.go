package principal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Errors returned by Verifier.Verify. Every refusal wraps one of them, with
// the reason in the message (for the service's log, never for the client).
var (
	// ErrInvalidToken: the token is missing, malformed, forged, expired, or
	// meant for another audience or issuer.
	ErrInvalidToken = errors.New("invalid identity token")
	// ErrKeysUnavailable: the gateway's key set has never been fetched
	// successfully, so no token can be checked yet.
	ErrKeysUnavailable = errors.New("gateway identity keys unavailable")
)

// Defaults and bounds of VerifierOptions.
const (
	DefaultLeeway             = 5 * time.Second
	MaxLeeway                 = time.Minute
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultMinRefetchInterval = 5 * time.Second
	// MinRefetchIntervalFloor is the smallest MinRefetchInterval accepted:
	// below it a flood of forged key ids would become a flood of requests
	// to the gateway.
	MinRefetchIntervalFloor = time.Second
)

// maxHeaderSize bounds the decoded JWS header; ours is about 100 bytes.
const maxHeaderSize = 1 << 10

// VerifierOptions configure a Verifier. Audience and exactly one of JWKSURL
// and JWKS are required; the zero value of every other field is a safe
// default.
type VerifierOptions struct {
	// Audience is this service's name as an upstream in the gateway's
	// configuration. Tokens the gateway made for other upstreams are refused,
	// so one service cannot replay its callers' tokens against another.
	Audience string
	// Issuer is the gateway's "iss" (default DefaultGatewayIssuer).
	Issuer string
	// JWKSURL is where the gateway serves its public key set, normally its
	// admin listener, e.g. "http://127.0.0.1:9901/identity/jwks.json". Use
	// plain http only over a link an attacker cannot write to (loopback, a
	// mesh mTLS tunnel): whoever can answer this request chooses the keys.
	JWKSURL string
	// JWKS is a static key set (the JSON of a JWK Set), an alternative to
	// JWKSURL for deployments that distribute the gateway's key by hand.
	JWKS []byte
	// HTTPClient fetches JWKSURL. The default has a 10 s timeout and does
	// not follow redirects.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed when checking exp, nbf and iat
	// (default DefaultLeeway, at most MaxLeeway).
	Leeway time.Duration
	// RefreshInterval is the age after which the key set is fetched again
	// (default DefaultRefreshInterval).
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two fetches of the key
	// set, whatever triggers them: tokens with unknown key ids, or a gateway
	// that does not answer (default DefaultMinRefetchInterval, at least
	// MinRefetchIntervalFloor).
	MinRefetchInterval time.Duration
	// CacheSize bounds how many verified tokens are remembered, so that the
	// signature of a token the gateway reuses is checked once (default
	// DefaultCacheSize; negative: no cache, every request is verified).
	CacheSize int
	// OnReject, if set, is called by Middleware for each refused request
	// with the reason, e.g. to log it. The client only ever sees a generic
	// body.
	OnReject func(r *http.Request, err error)
}

// A Verifier checks the identity tokens the gateway sends to one service. It
// is safe for concurrent use.
//
// With JWKSURL, the key set is fetched on first use (so a service may start
// before the gateway), refreshed once it is older than RefreshInterval, and
// refetched when a token names an unknown key id, which is how a rotation of
// the gateway's key is picked up. All fetches are at most one per
// MinRefetchInterval, and a failed fetch keeps the last good key set.
type Verifier struct {
	audience   string
	issuer     string
	leeway     time.Duration
	jwksURL    string
	client     *http.Client
	refresh    time.Duration
	minRefetch time.Duration
	onReject   func(*http.Request, error)
	now        func() time.Time
	cache      *verifiedCache

	keys atomic.Pointer[keySet]
	// fetching is held (a one-slot semaphore, so waiting can be cancelled)
	// by the caller that fetches the key set; it guards lastAttempt and
	// lastErr.
	fetching    chan struct{}
	lastAttempt time.Time
	lastErr     error
}

// NewVerifier checks o and returns a Verifier. It does no I/O: with JWKSURL,
// the keys are fetched by the first Verify.
func NewVerifier(o VerifierOptions) (*Verifier, error) {
	v := &Verifier{
		audience:   o.Audience,
		issuer:     o.Issuer,
		leeway:     o.Leeway,
		jwksURL:    o.JWKSURL,
		client:     o.HTTPClient,
		refresh:    o.RefreshInterval,
		minRefetch: o.MinRefetchInterval,
		onReject:   o.OnReject,
		now:        time.Now,
		fetching:   make(chan struct{}, 1),
		cache:      newVerifiedCache(o.CacheSize),
	}
	if v.audience == "" {
		return nil, errors.New("principal: new verifier: Audience is required (this service's upstream name in the gateway configuration)")
	}
	if v.issuer == "" {
		v.issuer = DefaultGatewayIssuer
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0 || v.leeway > MaxLeeway:
		return nil, fmt.Errorf("principal: new verifier: Leeway %s is outside 0..%s", v.leeway, MaxLeeway)
	}
	switch {
	case v.minRefetch == 0:
		v.minRefetch = DefaultMinRefetchInterval
	case v.minRefetch < MinRefetchIntervalFloor:
		return nil, fmt.Errorf("principal: new verifier: MinRefetchInterval %s is below %s", v.minRefetch, MinRefetchIntervalFloor)
	}
	switch {
	case v.refresh == 0:
		v.refresh = max(DefaultRefreshInterval, v.minRefetch)
	case v.refresh < v.minRefetch:
		return nil, fmt.Errorf("principal: new verifier: RefreshInterval %s is below MinRefetchInterval %s", v.refresh, v.minRefetch)
	}
	switch {
	case (o.JWKSURL == "") == (o.JWKS == nil):
		return nil, errors.New("principal: new verifier: set exactly one of JWKSURL and JWKS")
	case o.JWKS != nil:
		ks, err := parseKeySet(o.JWKS)
		if err != nil {
			return nil, fmt.Errorf("principal: new verifier: static JWKS: %w", err)
		}
		v.keys.Store(ks)
	default:
		u, err := url.Parse(o.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("principal: new verifier: JWKSURL %q is not an http(s) URL", o.JWKSURL)
		}
		if v.client == nil {
			v.client = defaultHTTPClient()
		}
	}
	return v, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
			MaxIdleConns:          2,
			IdleConnTimeout:       time.Minute,
		},
		// A redirect would let whoever answers at JWKSURL send the verifier
		// elsewhere for its keys.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// b64 is base64url without padding, refusing non-zero trailing bits so that
// one token has exactly one encoding. It is read-only.
var b64 = base64.RawURLEncoding.Strict()

// Verify checks an identity token and returns the principal it states. The
// returned Principal's Expires is the token's exp; its Claims are nil (the
// token carries only the fields of Principal, not the client's original
// token). Errors wrap ErrInvalidToken or ErrKeysUnavailable.
//
// The gateway reuses one token for many requests of the same principal (for
// up to half its lifetime), so jti identifies a token, not a request; a
// token verified once is remembered (see CacheSize) until its exp, as long
// as the key that verified it stays in the key set. Each call returns its
// own copy of the principal.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if len(token) > MaxIdentityTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidToken, len(token), MaxIdentityTokenSize)
	}
	if ks := v.keys.Load(); ks != nil {
		if p := v.cache.get(token, v.now(), ks); p != nil {
			return p, nil
		}
	}
	// Count the dots before splitting anything: a token of many dots costs
	// nothing more than a token of three parts.
	if strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrInvalidToken)
	}
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	kid, err := parseHeader(token[:dot1])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
	}
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: malformed signature", ErrInvalidToken)
	}
	pub, err := v.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, []byte(token[:dot2]), sig) {
		return nil, fmt.Errorf("%w: bad signature (key id %q)", ErrInvalidToken, kid)
	}
	payload, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrInvalidToken, err)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	p, err := v.check(&c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if ks := v.keys.Load(); ks != nil {
		from := c.Nbf.time()
		if it := c.Iat.time(); it.After(from) {
			from = it
		}
		v.cache.put(token, p, kid, pub, from.Add(-v.leeway), p.Expires.Add(v.leeway), ks, v.now())
	}
	return p, nil
}

// parseHeader checks the protected header and returns its kid. Only alg, typ
// and kid may appear: that refuses crit, b64 and every way of carrying or
// pointing at a key (jwk, jku, x5u, x5c, ...), which the gateway never sends.
func parseHeader(enc string) (kid string, err error) {
	if len(enc) > base64.RawURLEncoding.EncodedLen(maxHeaderSize) {
		return "", errors.New("too large")
	}
	raw, err := b64.DecodeString(enc)
	if err != nil {
		return "", errors.New("not base64url")
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil || h == nil {
		return "", errors.New("not a JSON object")
	}
	var alg, typ string
	for name, val := range h {
		var dst *string
		switch name {
		case "alg":
			dst = &alg
		case "typ":
			dst = &typ
		case "kid":
			dst = &kid
		case "crit":
			return "", errors.New("crit is not accepted")
		case "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256":
			return "", fmt.Errorf("embedded or referenced key (%s) is not accepted", name)
		default:
			return "", fmt.Errorf("unexpected parameter %.32q", name)
		}
		if err := json.Unmarshal(val, dst); err != nil {
			return "", fmt.Errorf("%s is not a string", name)
		}
	}
	switch {
	case alg != IdentityAlgorithm:
		return "", fmt.Errorf("alg %.16q is not %s", alg, IdentityAlgorithm)
	case typ != IdentityTokenType:
		return "", fmt.Errorf("typ %.32q is not %s", typ, IdentityTokenType)
	case kid == "":
		return "", errors.New("no kid")
	case len(kid) > 128:
		return "", errors.New("kid too long")
	}
	return kid, nil
}

// claims is the payload of an identity token.
type claims struct {
	Iss    string      `json:"iss"`
	Aud    audience    `json:"aud"`
	Sub    string      `json:"sub"`
	Exp    numericDate `json:"exp"`
	Nbf    numericDate `json:"nbf"`
	Iat    numericDate `json:"iat"`
	Jti    string      `json:"jti"`
	Kind   Kind        `json:"kind"`
	Issuer string      `json:"issuer"`
	Roles  []string    `json:"roles"`
	Scopes []string    `json:"scopes"`
	Method Method      `json:"method"`
}

// check validates verified claims and converts them to a Principal.
func (v *Verifier) check(c *claims) (*Principal, error) {
	now := v.now()
	switch {
	case c.Iss != v.issuer:
		return nil, fmt.Errorf("issuer %.64q is not %q", c.Iss, v.issuer)
	case len(c.Aud) != 1 || c.Aud[0] != v.audience:
		return nil, fmt.Errorf("audience %.64q is not %q", []string(c.Aud), v.audience)
	case !c.Exp.set || !c.Nbf.set || !c.Iat.set:
		return nil, errors.New("exp, nbf and iat are required")
	case !now.Before(c.Exp.time().Add(v.leeway)):
		return nil, fmt.Errorf("expired at %s", c.Exp.time().UTC().Format(time.RFC3339))
	case now.Add(v.leeway).Before(c.Nbf.time()):
		return nil, fmt.Errorf("not valid before %s", c.Nbf.time().UTC().Format(time.RFC3339))
	case now.Add(v.leeway).Before(c.Iat.time()):
		return nil, fmt.Errorf("issued in the future (%s)", c.Iat.time().UTC().Format(time.RFC3339))
	case c.Sub == "":
		return nil, errors.New("no sub")
	case c.Jti == "":
		return nil, errors.New("no jti")
	case !c.Kind.Valid():
		return nil, fmt.Errorf("unknown kind %.32q", c.Kind)
	case !c.Method.Valid():
		return nil, fmt.Errorf("unknown method %.32q", c.Method)
	}
	return &Principal{
		Subject: c.Sub,
		Kind:    c.Kind,
		Issuer:  c.Issuer,
		Roles:   c.Roles,
		Scopes:  c.Scopes,
		Method:  c.Method,
		Expires: c.Exp.time(),
	}, nil
}

// audience is "aud": one string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = l
	return nil
}

// numericDate is a JWT date: whole seconds since the epoch. Fractions are
// refused, as the gateway never sends them.
type numericDate struct {
	sec int64
	set bool
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &d.sec); err != nil || d.sec < 0 || d.sec > maxDate {
		return errors.New("a date is not an integer in range")
	}
	d.set = true
	return nil
}

// maxDate keeps dates far from where time.Time arithmetic overflows.
const maxDate = 1 << 40

func (d numericDate) time() time.Time { return time.Unix(d.sec, 0) }
