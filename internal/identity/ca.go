// Package identity is Rampart's workload-identity CA. It keeps a root and an
// intermediate (ECDSA P-256, keys sealed with AES-256-GCM under a
// key-encryption key), issues short-lived X.509 SVIDs that carry exactly one
// SPIFFE ID as their only SAN, hands out one-time join tokens, rotates its
// authorities with an overlap during which old and new are both trusted, and
// serves the join, renewal and bundle API that sdk/mtls speaks.
//
// State is one file, DIR/ca.json, replaced atomically (internal/securefile);
// join tokens are files under DIR/tokens (see NewJoinToken).
package identity

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity/wire"
	"github.com/rampart-sec/rampart/internal/ratelimit"
	"github.com/rampart-sec/rampart/internal/securefile"
)

// Defaults and limits.
const (
	DefaultLeafTTL     = time.Hour
	DefaultMaxLeafTTL  = 24 * time.Hour
	MaxJoinTokenTTL    = 24 * time.Hour
	rootLifetime       = 10 * 365 * 24 * time.Hour
	interLifetime      = 365 * 24 * time.Hour
	backdate           = 10 * time.Second // tolerate small clock skew between workloads
	stateFileName      = "ca.json"
	maxStateFileSize   = 1 << 20
	stateVersion       = 1
	roleRoot           = "root"
	roleIntermediate   = "intermediate"
	minRSAKeyBits      = 2048
	defaultBundleHintS = 60
)

// Errors a caller can test with errors.Is.
var (
	ErrNotInitialized = errors.New("no CA here: run `rampart ca init` first")
	ErrExists         = errors.New("a CA already exists here")
	ErrTrustDomain    = errors.New("SPIFFE ID is not in the CA's trust domain")
	ErrReservedID     = errors.New("SPIFFE ID is reserved for Rampart's own components")
	ErrTTL            = errors.New("lifetime out of range")
	ErrKeyType        = errors.New("unsupported public key")
)

// Option configures a CA.
type Option func(*options)

type options struct {
	now        func() time.Time
	events     event.Emitter
	leafTTL    time.Duration
	maxLeafTTL time.Duration
	joinLimit  ratelimit.Limit
}

// DefaultJoinLimit bounds /v1/join calls per client address: a workload
// joins once when it starts, so an address that calls more often is
// guessing tokens or flooding the CA's signing key.
var DefaultJoinLimit = ratelimit.Limit{Rate: 30, Period: time.Minute, Burst: 10}

// WithJoinLimit sets how many /v1/join calls one client address may make
// (DefaultJoinLimit). Calls over it get 429 and an svid_refused event with
// reason rate_limited, before the body is read.
func WithJoinLimit(l ratelimit.Limit) Option { return func(o *options) { o.joinLimit = l } }

// WithClock sets the CA's clock (tests shift it to mint expired or
// not-yet-valid certificates and expire join tokens).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithEvents sets where security events go (issuance, refusals, rotation).
func WithEvents(e event.Emitter) Option { return func(o *options) { o.events = e } }

// WithLeafTTL sets the lifetime of an SVID when the caller asks for none
// (DefaultLeafTTL). It is capped by the maximum (WithMaxLeafTTL).
func WithLeafTTL(d time.Duration) Option { return func(o *options) { o.leafTTL = d } }

// WithMaxLeafTTL sets the longest SVID lifetime the CA grants
// (DefaultMaxLeafTTL). Root rotation keeps the old root trusted this long
// after the new one takes over, so every SVID the old one chained is
// trusted until it expires.
func WithMaxLeafTTL(d time.Duration) Option { return func(o *options) { o.maxLeafTTL = d } }

type discard struct{}

func (discard) Emit(event.Event) {}

// CA is an open certificate authority. Its methods are safe for concurrent use.
type CA struct {
	dir    string
	aead   cipher.AEAD
	o      options
	tokens *tokenStore
	// joins limits /v1/join calls per client address.
	joins *ratelimit.Local

	mu sync.RWMutex
	st *state // replaced, never mutated

	srvMu sync.Mutex
	srv   *servingCert
}

// authority is a CA certificate with its key. A root's activateAt is when
// the intermediates under it start signing; an intermediate's is when it
// starts signing. retireAt (roots only) is when it leaves the trust bundle.
type authority struct {
	cert       *x509.Certificate
	key        crypto.Signer
	activateAt time.Time
	retireAt   time.Time
}

type state struct {
	td            spiffeid.TrustDomain
	roots         []*authority
	intermediates []*authority // in creation order
}

// Init creates a CA for trust domain td in dir: a root and an intermediate,
// sealed under kek. It refuses a dir that already holds a CA (ErrExists).
func Init(dir string, kek []byte, td spiffeid.TrustDomain, opts ...Option) (*CA, error) {
	if td.IsZero() {
		return nil, errors.New("init CA: trust domain is empty")
	}
	ca, err := newCA(dir, kek, opts)
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	now := ca.o.now()
	root, err := newRoot(td, now)
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	inter, err := newIntermediate(td, root, now, now)
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	st := &state{td: td, roots: []*authority{root}, intermediates: []*authority{inter}}
	b, err := ca.marshal(st)
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	created, err := securefile.Create(ca.statePath(), b)
	if err != nil {
		return nil, fmt.Errorf("init CA: %w", err)
	}
	if !created {
		return nil, fmt.Errorf("init CA in %s: %w", dir, ErrExists)
	}
	ca.st = st
	ca.emit(nil, CARotated, event.Info, "", "init", "root "+serial(root.cert)+" intermediate "+serial(inter.cert))
	return ca, nil
}

// Open loads the CA in dir, unsealing its keys with kek.
func Open(dir string, kek []byte, opts ...Option) (*CA, error) {
	ca, err := newCA(dir, kek, opts)
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	if err := ca.Reload(); err != nil {
		return nil, err
	}
	return ca, nil
}

func newCA(dir string, kek []byte, opts []Option) (*CA, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	o := options{now: time.Now, events: discard{}, leafTTL: DefaultLeafTTL, maxLeafTTL: DefaultMaxLeafTTL, joinLimit: DefaultJoinLimit}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxLeafTTL <= 0 || o.leafTTL <= 0 || o.leafTTL > o.maxLeafTTL {
		return nil, fmt.Errorf("SVID lifetime %v with maximum %v: %w", o.leafTTL, o.maxLeafTTL, ErrTTL)
	}
	joins, err := ratelimit.NewLocal("ca_join", o.joinLimit, ratelimit.LocalOptions{})
	if err != nil {
		return nil, fmt.Errorf("join limit: %w", err)
	}
	return &CA{dir: dir, aead: aead, o: o, tokens: &tokenStore{dir: filepath.Join(dir, "tokens")}, joins: joins}, nil
}

func (ca *CA) statePath() string { return filepath.Join(ca.dir, stateFileName) }

// Reload rereads the state file, so that a running server picks up a
// rotation made by another process (`rampart ca rotate`).
func (ca *CA) Reload() error {
	b, err := securefile.ReadPrivate("CA state", ca.statePath(), maxStateFileSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("open CA in %s: %w", ca.dir, ErrNotInitialized)
		}
		return fmt.Errorf("open CA: %w", err)
	}
	st, err := ca.unmarshal(b)
	if err != nil {
		return fmt.Errorf("open CA %s: %w", ca.statePath(), err)
	}
	ca.mu.Lock()
	ca.st = st
	ca.mu.Unlock()
	return nil
}

func (ca *CA) state() *state {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	return ca.st
}

// TrustDomain is the trust domain the CA issues in.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.state().td }

// Bundle returns the roots trusted now: the current one and, during a
// rotation's overlap, the old or the upcoming one.
func (ca *CA) Bundle() *x509bundle.Bundle {
	return ca.state().bundle(ca.o.now())
}

func (st *state) bundle(now time.Time) *x509bundle.Bundle {
	var roots []*x509.Certificate
	for _, r := range st.roots {
		if r.trusted(now) {
			roots = append(roots, r.cert)
		}
	}
	return x509bundle.FromX509Authorities(st.td, roots)
}

func (a *authority) trusted(now time.Time) bool {
	return (a.retireAt.IsZero() || now.Before(a.retireAt)) && now.Before(a.cert.NotAfter)
}

// signer is the intermediate that signs now: the newest one already
// active. With a clock set before any activation, the oldest one.
func (st *state) signer(now time.Time) *authority {
	for i := len(st.intermediates) - 1; i >= 0; i-- {
		if !now.Before(st.intermediates[i].activateAt) {
			return st.intermediates[i]
		}
	}
	return st.intermediates[0]
}

// Issue signs an SVID for id and pub, valid for ttl (0: the CA's default),
// and returns the chain: the leaf, then the intermediate that signed it.
// The leaf carries id as its only SAN, both client and server
// authentication, and no more than the intermediate's remaining life.
func (ca *CA) Issue(ctx context.Context, id spiffeid.ID, pub crypto.PublicKey, ttl time.Duration) ([]*x509.Certificate, error) {
	chain, err := ca.issueWorkload(ctx, id, pub, ttl)
	if err != nil {
		ca.emit(nil, IssueRefused, event.Medium, id.String(), reasonOf(err), err.Error())
		return nil, err
	}
	ca.emit(nil, SVIDIssued, event.Info, id.String(), "direct", certDetail(chain[0]))
	return chain, nil
}

// NewSVID generates a P-256 key and issues an SVID for it: for operators
// bootstrapping a workload by hand, and for tests.
func (ca *CA) NewSVID(ctx context.Context, id spiffeid.ID, ttl time.Duration) (*x509svid.SVID, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue SVID for %s: generate key: %w", id, err)
	}
	chain, err := ca.Issue(ctx, id, key.Public(), ttl)
	if err != nil {
		return nil, err
	}
	return &x509svid.SVID{ID: id, Certificates: chain, PrivateKey: key}, nil
}

// issueWorkload checks what only workloads are held to, then issues.
func (ca *CA) issueWorkload(ctx context.Context, id spiffeid.ID, pub crypto.PublicKey, ttl time.Duration) ([]*x509.Certificate, error) {
	if err := ca.checkWorkloadID(id); err != nil {
		return nil, fmt.Errorf("issue SVID: %w", err)
	}
	return ca.issue(ctx, id, pub, ttl)
}

func (ca *CA) checkWorkloadID(id spiffeid.ID) error {
	td := ca.TrustDomain()
	switch {
	case id.IsZero():
		return fmt.Errorf("empty SPIFFE ID: %w", ErrTrustDomain)
	case id.TrustDomain() != td:
		return fmt.Errorf("%s (CA trust domain %s): %w", id, td, ErrTrustDomain)
	case id.Path() == "":
		return fmt.Errorf("%s has no path: a workload ID names a workload", id)
	case wire.Reserved(id):
		return fmt.Errorf("%s: %w", id, ErrReservedID)
	}
	return nil
}

func (ca *CA) issue(ctx context.Context, id spiffeid.ID, pub crypto.PublicKey, ttl time.Duration) ([]*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("issue SVID for %s: %w", id, err)
	}
	if ttl == 0 {
		ttl = ca.o.leafTTL
	}
	if ttl < 0 || ttl > ca.o.maxLeafTTL {
		return nil, fmt.Errorf("issue SVID for %s: lifetime %v, maximum %v: %w", id, ttl, ca.o.maxLeafTTL, ErrTTL)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, fmt.Errorf("issue SVID for %s: %w", id, err)
	}
	now := ca.o.now()
	st := ca.state()
	parent := st.signer(now)
	sn, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("issue SVID for %s: %w", id, err)
	}
	notAfter := now.Add(ttl)
	if notAfter.After(parent.cert.NotAfter) {
		notAfter = parent.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.cert, pub, parent.key)
	if err != nil {
		return nil, fmt.Errorf("issue SVID for %s: sign: %w", id, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue SVID for %s: parse: %w", id, err)
	}
	return []*x509.Certificate{leaf, parent.cert}, nil
}

// checkPublicKey admits the keys TLS 1.3 and go-spiffe handle: ECDSA P-256
// and P-384, Ed25519, RSA of 2048 bits or more.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s: %w", k.Curve.Params().Name, ErrKeyType)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("Ed25519 key of %d bytes: %w", len(k), ErrKeyType)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSAKeyBits {
			return fmt.Errorf("RSA key of %d bits: %w", k.N.BitLen(), ErrKeyType)
		}
	default:
		return fmt.Errorf("%T: %w", pub, ErrKeyType)
	}
	return nil
}

func randomSerial() (*big.Int, error) {
	// 127 random bits: positive and within the 20 octets RFC 5280 allows.
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return sn, nil
}

func newRoot(td spiffeid.TrustDomain, now time.Time) (*authority, error) {
	return newAuthority(td, nil, now, now, "Rampart root CA")
}

func newIntermediate(td spiffeid.TrustDomain, root *authority, now, activateAt time.Time) (*authority, error) {
	return newAuthority(td, root, now, activateAt, "Rampart intermediate CA")
}

// newAuthority makes a root (parent nil) or an intermediate under parent.
// Both name the trust domain as their SPIFFE ID, as the X509-SVID spec allows
// for signing certificates.
func newAuthority(td spiffeid.TrustDomain, parent *authority, now, activateAt time.Time, name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: generate key: %w", name, err)
	}
	sn, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{Organization: []string{"Rampart"}, CommonName: name + " " + td.Name() + " " + now.UTC().Format("2006-01-02T15:04:05Z")},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(rootLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		URIs:                  []*url.URL{td.ID().URL()},
	}
	parentCert, parentKey := tmpl, crypto.Signer(key)
	if parent != nil {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		tmpl.NotAfter = now.Add(interLifetime)
		if tmpl.NotAfter.After(parent.cert.NotAfter) {
			tmpl.NotAfter = parent.cert.NotAfter
		}
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("%s: sign: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: parse: %w", name, err)
	}
	return &authority{cert: cert, key: key, activateAt: activateAt}, nil
}

// RotateIntermediate makes a new intermediate under the newest root and
// signs with it from now on (or from when a pending root rotation takes
// over). SVIDs from the old intermediate stay valid: they chain to the
// same, still trusted root. The old intermediate's key is discarded.
func (ca *CA) RotateIntermediate(ctx context.Context) error {
	return ca.rotate(ctx, "intermediate", func(st *state, now time.Time) error {
		root := st.roots[len(st.roots)-1]
		activate := now
		if root.activateAt.After(now) {
			activate = root.activateAt
		}
		inter, err := newIntermediate(st.td, root, now, activate)
		if err != nil {
			return err
		}
		st.intermediates = append(st.intermediates, inter)
		return nil
	})
}

// RotateIntermediateIfDue rotates the intermediate when the one signing
// expires within a tenth of its lifetime (at least twice the maximum SVID
// lifetime), before it starts cutting SVID lifetimes short. It refuses,
// with an error that says so, when the root itself is that close to
// expiry: only an operator's `rampart ca rotate --root` helps then.
func (ca *CA) RotateIntermediateIfDue(ctx context.Context) (rotated bool, err error) {
	now := ca.o.now()
	margin := max(interLifetime/10, 2*ca.o.maxLeafTTL)
	st := ca.state()
	if st.signer(now).cert.NotAfter.Sub(now) > margin {
		return false, nil
	}
	if root := st.roots[len(st.roots)-1]; root.cert.NotAfter.Sub(now) <= margin {
		return false, fmt.Errorf("root CA expires at %s: rotate it (`rampart ca rotate --root`)", root.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := ca.RotateIntermediate(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// RotateRoot makes a new root and an intermediate under it. The new root is
// trusted (in Bundle) at once, but signs only after activateAfter, so that
// every workload has fetched it before it meets an SVID chained to it. The
// old roots stay trusted until the SVIDs they chained have expired
// (activation + the maximum SVID lifetime), then leave the bundle.
func (ca *CA) RotateRoot(ctx context.Context, activateAfter time.Duration) error {
	if activateAfter < 0 {
		return fmt.Errorf("rotate root: negative activation delay %v", activateAfter)
	}
	return ca.rotate(ctx, "root", func(st *state, now time.Time) error {
		activate := now.Add(activateAfter)
		root, err := newRoot(st.td, now)
		if err != nil {
			return err
		}
		root.activateAt = activate
		inter, err := newIntermediate(st.td, root, now, activate)
		if err != nil {
			return err
		}
		for _, r := range st.roots {
			if r.retireAt.IsZero() {
				r.retireAt = activate.Add(ca.o.maxLeafTTL)
			}
		}
		st.roots = append(st.roots, root)
		st.intermediates = append(st.intermediates, inter)
		return nil
	})
}

// rotate applies change to a copy of the freshest state on disk, prunes
// what is no longer needed, writes it durably and installs it. Rotations
// from two processes at the same instant are not serialized: run one at a time.
func (ca *CA) rotate(ctx context.Context, what string, change func(*state, time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rotate %s: %w", what, err)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	b, err := securefile.ReadPrivate("CA state", ca.statePath(), maxStateFileSize)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", what, err)
	}
	st, err := ca.unmarshal(b)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", what, err)
	}
	now := ca.o.now()
	if err := change(st, now); err != nil {
		return fmt.Errorf("rotate %s: %w", what, err)
	}
	st.prune(now)
	out, err := ca.marshal(st)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", what, err)
	}
	if _, err := securefile.Write(ca.statePath(), out); err != nil {
		return fmt.Errorf("rotate %s: %w", what, err)
	}
	ca.st = st
	ca.emit(nil, CARotated, event.Medium, "", what, "signing intermediate from "+
		st.intermediates[len(st.intermediates)-1].activateAt.UTC().Format(time.RFC3339)+": "+serial(st.intermediates[len(st.intermediates)-1].cert))
	return nil
}

// prune drops retired roots, intermediates superseded by an active newer
// one, and intermediates whose root is gone.
func (st *state) prune(now time.Time) {
	var roots []*authority
	for _, r := range st.roots {
		if r.trusted(now) {
			roots = append(roots, r)
		}
	}
	active := st.signer(now)
	var inters []*authority
	keep := false
	for _, in := range st.intermediates {
		keep = keep || in == active
		if keep && hasParent(in, roots) {
			inters = append(inters, in)
		}
	}
	st.roots, st.intermediates = roots, inters
}

func hasParent(in *authority, roots []*authority) bool {
	for _, r := range roots {
		if in.cert.CheckSignatureFrom(r.cert) == nil {
			return true
		}
	}
	return false
}

type fileState struct {
	Version       int             `json:"version"`
	TrustDomain   string          `json:"trust_domain"`
	Roots         []fileAuthority `json:"roots"`
	Intermediates []fileAuthority `json:"intermediates"`
}

type fileAuthority struct {
	Cert       string    `json:"cert"` // PEM
	Key        []byte    `json:"key"`  // PKCS #8, sealed under the KEK
	ActivateAt time.Time `json:"activate_at"`
	RetireAt   time.Time `json:"retire_at,omitzero"`
}

func (ca *CA) marshal(st *state) ([]byte, error) {
	f := fileState{Version: stateVersion, TrustDomain: st.td.Name()}
	enc := func(role string, as []*authority) ([]fileAuthority, error) {
		out := make([]fileAuthority, 0, len(as))
		for _, a := range as {
			der, err := x509.MarshalPKCS8PrivateKey(a.key)
			if err != nil {
				return nil, fmt.Errorf("encode %s key: %w", role, err)
			}
			sealed, err := seal(ca.aead, der, keyAAD(role, a.cert.Raw))
			if err != nil {
				return nil, fmt.Errorf("seal %s key: %w", role, err)
			}
			out = append(out, fileAuthority{
				Cert:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw})),
				Key:        sealed,
				ActivateAt: a.activateAt,
				RetireAt:   a.retireAt,
			})
		}
		return out, nil
	}
	var err error
	if f.Roots, err = enc(roleRoot, st.roots); err != nil {
		return nil, err
	}
	if f.Intermediates, err = enc(roleIntermediate, st.intermediates); err != nil {
		return nil, err
	}
	return json.MarshalIndent(f, "", "  ")
}

func (ca *CA) unmarshal(b []byte) (*state, error) {
	var f fileState
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if f.Version != stateVersion {
		return nil, fmt.Errorf("state version %d, this binary reads %d", f.Version, stateVersion)
	}
	td, err := spiffeid.TrustDomainFromString(f.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("trust domain: %w", err)
	}
	dec := func(role string, fas []fileAuthority) ([]*authority, error) {
		if len(fas) == 0 {
			return nil, fmt.Errorf("no %s", role)
		}
		out := make([]*authority, 0, len(fas))
		for i, fa := range fas {
			blk, _ := pem.Decode([]byte(fa.Cert))
			if blk == nil || blk.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("%s %d: no PEM certificate", role, i)
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s %d: %w", role, i, err)
			}
			der, err := unseal(ca.aead, fa.Key, keyAAD(role, cert.Raw))
			if err != nil {
				return nil, fmt.Errorf("%s %d key: %w", role, i, err)
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return nil, fmt.Errorf("%s %d key: %w", role, i, err)
			}
			signer, ok := k.(crypto.Signer)
			if !ok || !publicKeyEqual(signer.Public(), cert.PublicKey) {
				return nil, fmt.Errorf("%s %d: key does not match certificate", role, i)
			}
			out = append(out, &authority{cert: cert, key: signer, activateAt: fa.ActivateAt, retireAt: fa.RetireAt})
		}
		return out, nil
	}
	st := &state{td: td}
	if st.roots, err = dec(roleRoot, f.Roots); err != nil {
		return nil, err
	}
	if st.intermediates, err = dec(roleIntermediate, f.Intermediates); err != nil {
		return nil, err
	}
	return st, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func serial(c *x509.Certificate) string { return "serial=" + c.SerialNumber.Text(16) }

func certDetail(leaf *x509.Certificate) string {
	return serial(leaf) + " not_after=" + leaf.NotAfter.UTC().Format(time.RFC3339)
}

// WritePEM writes an SVID's chain and key as two PEM files (0600), for
// workloads bootstrapped by hand (`rampart ca issue`).
func WritePEM(svid *x509svid.SVID, certFile, keyFile string) error {
	certs, key, err := svid.Marshal()
	if err != nil {
		return fmt.Errorf("encode SVID: %w", err)
	}
	if _, err := securefile.Write(keyFile, key); err != nil {
		return err
	}
	if _, err := securefile.Write(certFile, certs); err != nil {
		return err
	}
	return nil
}

// BundlePEM encodes a bundle's roots as PEM.
func BundlePEM(b *x509bundle.Bundle) []byte {
	var out []byte
	for _, c := range b.X509Authorities() {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
