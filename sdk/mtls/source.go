// Package mtls gives a Go service a short-lived SPIFFE identity from
// Rampart's CA (`rampart ca serve`) and the TLS 1.3 configurations to serve
// and call other services with mutual TLS.
//
// A Source joins the CA once with a one-time join token (or starts from an
// SVID kept on disk), renews its X.509 SVID at half life with a fresh key,
// and refreshes the trust bundle. If the CA is down, the current SVID keeps
// working until it expires and renewal is retried with backoff. The
// configurations from ServerConfig and ClientConfig read the Source on every
// handshake, so rotated certificates and bundles take effect without a
// restart. Servers read the caller's verified ID with PeerID. See Example.
//
// TLS 1.3 only; there is no plaintext fallback.
package mtls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/identity/wire"
	"github.com/rampart-sec/rampart/internal/securefile"
)

// Defaults of Config.
const (
	DefaultBundleRefresh = time.Minute
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = 30 * time.Second
	requestTimeout       = 10 * time.Second
	// maxJoinAttempts and maxJoinWait bound the retries of a join the CA
	// answered with 429.
	maxJoinAttempts = 6
	maxJoinWait     = 30 * time.Second
	maxResponse     = 1 << 20
)

// Config says where the CA is and how to prove the first identity.
type Config struct {
	// CA is the base URL of `rampart ca serve`, e.g. https://ca.internal:8445.
	CA string
	// TrustDomain is the CA's trust domain. Required to join; a kept SVID
	// must be in it.
	TrustDomain spiffeid.TrustDomain
	// Bundle is the bootstrap trust bundle: the CA's roots in PEM
	// (`rampart ca bundle`). It authenticates the CA; later bundles come from
	// the CA itself.
	Bundle []byte
	// JoinToken is a one-time token from `rampart ca token`, used when no
	// valid SVID is kept in CertFile/KeyFile.
	JoinToken string
	// CertFile and KeyFile, when set, keep the SVID across restarts: a valid
	// SVID there is used instead of the join token (which works only once),
	// and each renewal rewrites them (mode 0600).
	CertFile, KeyFile string
	// BundleFile, when set, keeps the trust bundle across restarts: present
	// at start, it is used instead of Bundle (which may predate a root
	// rotation), and every change rewrites it (mode 0600).
	BundleFile string
	// BundleRefresh is how often the bundle is refetched (DefaultBundleRefresh).
	// It must be shorter than the activation delay of root rotations.
	BundleRefresh time.Duration
	// RetryMin and RetryMax bound the backoff between failed renewals
	// (DefaultRetryMin, DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// Logger gets renewal failures and rotations (slog.Default when nil).
	Logger *slog.Logger
}

// Source holds a workload's current SVID and trust bundle and keeps both
// fresh. It implements x509svid.Source and x509bundle.Source. Its methods
// are safe for concurrent use.
type Source struct {
	cfg      Config
	caURL    string
	log      *slog.Logger
	caClient *http.Client

	cur atomic.Pointer[material]

	cancel context.CancelFunc
	done   chan struct{}
	close  sync.Once
}

// material is one immutable generation of credentials; handshakes load it once.
type material struct {
	svid    *x509svid.SVID // nil only while joining
	cert    *tls.Certificate
	bundle  *x509bundle.Bundle
	pool    *x509.CertPool
	renewAt time.Time
}

// New bootstraps a Source: it loads the kept SVID or joins the CA with the
// token, then renews in the background until Close. ctx bounds the
// bootstrap only.
func New(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.TrustDomain.IsZero() {
		return nil, errors.New("mtls: Config.TrustDomain is required")
	}
	if !strings.HasPrefix(cfg.CA, "https://") {
		return nil, fmt.Errorf("mtls: Config.CA %q: want an https:// URL", cfg.CA)
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("mtls: set both Config.CertFile and Config.KeyFile, or neither")
	}
	if cfg.BundleRefresh <= 0 {
		cfg.BundleRefresh = DefaultBundleRefresh
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	bundle, err := parseBundle(cfg.TrustDomain, cfg.Bundle)
	if err != nil {
		return nil, fmt.Errorf("mtls: Config.Bundle: %w", err)
	}
	if kept, err := loadKeptBundle(cfg.TrustDomain, cfg.BundleFile); err != nil {
		log.Warn("mtls: kept bundle not usable, using Config.Bundle", "error", err)
	} else if kept != nil {
		bundle = kept
	}
	caID, err := wire.CAID(cfg.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("mtls: %w", err)
	}
	s := &Source{cfg: cfg, caURL: strings.TrimSuffix(cfg.CA, "/"), log: log, done: make(chan struct{})}
	s.cur.Store(newMaterial(nil, bundle))
	// Keep-alives off: each renewal must present the SVID of that moment.
	s.caClient = &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{TLSClientConfig: s.ClientConfig(authorizeID(caID)), DisableKeepAlives: true},
	}

	svid, err := s.loadKept()
	if err != nil {
		log.Warn("mtls: kept SVID not usable, joining with the token", "error", err)
	}
	if svid != nil {
		s.install(svid, bundle)
	} else {
		if cfg.JoinToken == "" {
			return nil, errors.New("mtls: no valid kept SVID and no Config.JoinToken")
		}
		if err := s.join(ctx); err != nil {
			return nil, err
		}
	}
	s.keepBundle(s.cur.Load().bundle)
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(rctx)
	return s, nil
}

// Close stops renewal. The current SVID keeps serving handshakes.
func (s *Source) Close() error {
	s.close.Do(func() {
		s.cancel()
		<-s.done
	})
	return nil
}

// ID is the workload's SPIFFE ID.
func (s *Source) ID() spiffeid.ID { return s.cur.Load().svid.ID }

// GetX509SVID returns the current SVID (x509svid.Source).
func (s *Source) GetX509SVID() (*x509svid.SVID, error) {
	if m := s.cur.Load(); m.svid != nil {
		return m.svid, nil
	}
	return nil, errors.New("mtls: no SVID yet")
}

// GetX509BundleForTrustDomain returns the current bundle for the Source's
// trust domain and refuses any other (x509bundle.Source).
func (s *Source) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	return s.cur.Load().bundle.GetX509BundleForTrustDomain(td)
}

func newMaterial(svid *x509svid.SVID, bundle *x509bundle.Bundle) *material {
	m := &material{svid: svid, bundle: bundle, pool: x509.NewCertPool()}
	for _, c := range bundle.X509Authorities() {
		m.pool.AddCert(c)
	}
	if svid != nil {
		m.cert = &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
		for _, c := range svid.Certificates {
			m.cert.Certificate = append(m.cert.Certificate, c.Raw)
		}
		now := time.Now()
		m.renewAt = now.Add(svid.Certificates[0].NotAfter.Sub(now) / 2)
	}
	return m
}

func (s *Source) install(svid *x509svid.SVID, bundle *x509bundle.Bundle) {
	old := s.cur.Swap(newMaterial(svid, bundle))
	if !old.bundle.Equal(bundle) {
		s.keepBundle(bundle)
	}
}

func (s *Source) installBundle(bundle *x509bundle.Bundle) {
	for {
		old := s.cur.Load()
		if old.bundle.Equal(bundle) {
			return
		}
		m := newMaterial(old.svid, bundle)
		m.renewAt = old.renewAt
		if s.cur.CompareAndSwap(old, m) {
			s.keepBundle(bundle)
			s.log.Info("mtls: trust bundle updated", "roots", len(bundle.X509Authorities()))
			return
		}
	}
}

// loadKept returns the SVID in CertFile/KeyFile if it is valid now, chains
// to the bootstrap bundle and is in the trust domain; nil if there is none.
func (s *Source) loadKept() (*x509svid.SVID, error) {
	if s.cfg.CertFile == "" {
		return nil, nil
	}
	if _, err := securefile.ReadPrivate("SVID key", s.cfg.KeyFile, maxResponse); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	svid, err := x509svid.Load(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load kept SVID: %w", err)
	}
	if _, _, err := x509svid.Verify(svid.Certificates, s.cur.Load().bundle); err != nil {
		return nil, fmt.Errorf("kept SVID %s: %w", s.cfg.CertFile, err)
	}
	return svid, nil
}

func loadKeptBundle(td spiffeid.TrustDomain, path string) (*x509bundle.Bundle, error) {
	if path == "" {
		return nil, nil
	}
	b, err := securefile.ReadPrivate("trust bundle", path, maxResponse)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseBundle(td, b)
}

func (s *Source) keepBundle(b *x509bundle.Bundle) {
	if s.cfg.BundleFile == "" {
		return
	}
	pemBytes, err := b.Marshal()
	if err == nil {
		_, err = securefile.Write(s.cfg.BundleFile, pemBytes)
	}
	if err != nil {
		s.log.Error("mtls: keep trust bundle on disk", "error", err)
	}
}

func (s *Source) keep(svid *x509svid.SVID) {
	if s.cfg.CertFile == "" {
		return
	}
	certs, key, err := svid.Marshal()
	if err == nil {
		_, err = securefile.Write(s.cfg.KeyFile, key)
	}
	if err == nil {
		_, err = securefile.Write(s.cfg.CertFile, certs)
	}
	if err != nil {
		s.log.Error("mtls: keep SVID on disk", "error", err)
	}
}

func (s *Source) join(ctx context.Context) error {
	key, csr, err := newCSR()
	if err != nil {
		return fmt.Errorf("mtls: join: %w", err)
	}
	var resp wire.SVIDResponse
	for attempt := 1; ; attempt++ {
		err := s.post(ctx, wire.JoinPath, wire.JoinRequest{Token: s.cfg.JoinToken, CSR: csr}, &resp)
		var caErr *CAError
		if err == nil {
			break
		}
		if !errors.As(err, &caErr) || caErr.Status != http.StatusTooManyRequests || attempt == maxJoinAttempts {
			return fmt.Errorf("mtls: join: %w", err)
		}
		// The CA limits joins per address (a fleet restarting behind one
		// NAT address can hit it); it did not spend the token, so wait
		// as it asks and try again.
		wait := min(max(caErr.RetryAfter, time.Second), maxJoinWait)
		s.log.Warn("mtls: the CA limited the join; retrying", "retry_in", wait.String(), "attempt", attempt)
		select {
		case <-ctx.Done():
			return fmt.Errorf("mtls: join: %w", err)
		case <-time.After(wait):
		}
	}
	svid, bundle, err := s.accept(resp, key, spiffeid.ID{})
	if err != nil {
		return fmt.Errorf("mtls: join: %w", err)
	}
	s.install(svid, bundle)
	s.keep(svid)
	s.log.Info("mtls: joined", "spiffe_id", svid.ID.String(), "not_after", svid.Certificates[0].NotAfter)
	return nil
}

func (s *Source) renew(ctx context.Context) error {
	id := s.ID()
	key, csr, err := newCSR()
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	var resp wire.SVIDResponse
	if err := s.post(ctx, wire.RenewPath, wire.RenewRequest{CSR: csr}, &resp); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	svid, bundle, err := s.accept(resp, key, id)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	s.install(svid, bundle)
	s.keep(svid)
	s.log.Debug("mtls: SVID renewed", "spiffe_id", id.String(), "not_after", svid.Certificates[0].NotAfter)
	return nil
}

// accept checks an issued SVID against the bundle that came with it: it
// must chain to it, name want (any ID of the trust domain when zero) and
// certify key.
func (s *Source) accept(resp wire.SVIDResponse, key *ecdsa.PrivateKey, want spiffeid.ID) (*x509svid.SVID, *x509bundle.Bundle, error) {
	bundle, err := parseBundle(s.cfg.TrustDomain, []byte(resp.Bundle))
	if err != nil {
		return nil, nil, fmt.Errorf("bundle in response: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	svid, err := x509svid.Parse([]byte(resp.Chain), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, nil, fmt.Errorf("SVID in response: %w", err)
	}
	id, _, err := x509svid.Verify(svid.Certificates, bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("SVID in response: %w", err)
	}
	if !id.MemberOf(s.cfg.TrustDomain) || (!want.IsZero() && id != want) {
		return nil, nil, fmt.Errorf("SVID in response names %s", id)
	}
	return svid, bundle, nil
}

func (s *Source) refreshBundle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.caURL+wire.BundlePath, nil)
	if err != nil {
		return fmt.Errorf("refresh bundle: %w", err)
	}
	var resp wire.BundleResponse
	if err := s.do(req, &resp); err != nil {
		return fmt.Errorf("refresh bundle: %w", err)
	}
	bundle, err := parseBundle(s.cfg.TrustDomain, []byte(resp.Roots))
	if err != nil {
		return fmt.Errorf("refresh bundle: %w", err)
	}
	s.installBundle(bundle)
	return nil
}

func (s *Source) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.caURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return s.do(req, out)
}

func (s *Source) do(req *http.Request, out any) error {
	resp, err := s.caClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e wire.Error
		json.Unmarshal(b, &e)
		ce := &CAError{Status: resp.StatusCode, Code: e.Error, RequestID: e.RequestID}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			ce.RetryAfter = time.Duration(secs) * time.Second
		}
		return ce
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// parseBundle parses PEM roots and refuses an empty bundle, which would
// make every handshake fail.
func parseBundle(td spiffeid.TrustDomain, pemBytes []byte) (*x509bundle.Bundle, error) {
	b, err := x509bundle.Parse(td, pemBytes)
	if err != nil {
		return nil, err
	}
	if b.Empty() {
		return nil, fmt.Errorf("no PEM roots for %s", td)
	}
	return b, nil
}

// CAError is a refusal from the CA: Code is its short error code
// (unauthorized, bad_request, internal_error); the CA's security event with
// the same RequestID says why.
type CAError struct {
	Status    int
	Code      string
	RequestID string
	// RetryAfter is the CA's Retry-After, when it sent one (429).
	RetryAfter time.Duration
}

func (e *CAError) Error() string {
	return fmt.Sprintf("CA refused: %d %s (request %s)", e.Status, e.Code, e.RequestID)
}

func newCSR() (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, "", fmt.Errorf("create CSR: %w", err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// run renews at half life, retrying with capped, jittered exponential backoff while
// the CA is unreachable, and refreshes the bundle, until ctx is done.
func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	retry := time.Duration(0)
	renew := time.NewTimer(time.Until(s.cur.Load().renewAt))
	defer renew.Stop()
	refresh := time.NewTicker(s.cfg.BundleRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			if err := s.refreshBundle(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("mtls: bundle refresh failed; keeping the current bundle", "error", err)
			}
		case <-renew.C:
			err := s.renew(ctx)
			if err == nil {
				retry = 0
				renew.Reset(time.Until(s.cur.Load().renewAt))
				continue
			}
			if ctx.Err() != nil {
				return
			}
			retry = min(max(2*retry, s.cfg.RetryMin), s.cfg.RetryMax)
			notAfter := s.cur.Load().svid.Certificates[0].NotAfter
			if time.Now().After(notAfter) {
				s.log.Error("mtls: SVID expired and could not be renewed; a new join token is needed", "error", err)
			} else {
				s.log.Warn("mtls: renewal failed; the current SVID stays in use", "error", err, "retry_in", retry, "expires", notAfter)
			}
			// Jitter, so that workloads do not retry in step when the CA returns.
			renew.Reset(retry/2 + mrand.N(retry/2+1))
		}
	}
}
