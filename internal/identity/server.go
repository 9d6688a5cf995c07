package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity/wire"
)

// Handler serves the CA API (paths in package wire): POST /v1/join,
// POST /v1/renew (needs the TLS config of ServerTLSConfig, which asks for
// and verifies client SVIDs) and GET /v1/bundle. Refusals get a generic
// JSON body; the reason goes to the security event.
func (ca *CA) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.JoinPath, ca.handleJoin)
	mux.HandleFunc("POST "+wire.RenewPath, ca.handleRenew)
	mux.HandleFunc("GET "+wire.BundlePath, ca.handleBundle)
	return mux
}

func (ca *CA) handleJoin(w http.ResponseWriter, r *http.Request) {
	if d, _ := ca.joins.Allow(r.Context(), peerHost(r)); !d.Allowed {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.RetryAfter.Seconds()))))
		ca.refuse(w, r, "", ReasonRateLimited, errors.New("too many join calls from this address"))
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		ca.refuse(w, r, "", ReasonBadRequest, err)
		return
	}
	tok, pub, err := parseJoinRequest(body)
	if err != nil {
		ca.refuse(w, r, "", reasonOfParse(err), err)
		return
	}
	// The CSR is checked first, so that a malformed request does not burn the token.
	id, err := ca.tokens.spend(tok, ca.o.now())
	if err != nil {
		principal := ""
		if !id.IsZero() {
			principal = id.String()
		}
		ca.refuse(w, r, principal, reasonOf(err), err)
		return
	}
	ca.respondSVID(w, r, id, pub, "join")
}

func (ca *CA) handleRenew(w http.ResponseWriter, r *http.Request) {
	id, err := ca.clientID(r)
	if err != nil {
		ca.refuse(w, r, "", ReasonNoClientCert, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		ca.refuse(w, r, id.String(), ReasonBadRequest, err)
		return
	}
	pub, err := parseRenewRequest(body)
	if err != nil {
		ca.refuse(w, r, id.String(), reasonOfParse(err), err)
		return
	}
	ca.respondSVID(w, r, id, pub, "renew")
}

// clientID is the SPIFFE ID of the client SVID that crypto/tls verified
// against the bundle (ServerTLSConfig); a merely presented certificate
// proves nothing.
func (ca *CA) clientID(r *http.Request) (spiffeid.ID, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return spiffeid.ID{}, errors.New("no verified client SVID")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	// crypto/tls checked validity at the handshake; a keep-alive connection
	// can outlive the certificate, and an expired SVID renews nothing.
	if now := ca.o.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return spiffeid.ID{}, errors.New("client SVID is not valid now")
	}
	if leaf.IsCA {
		return spiffeid.ID{}, errors.New("client certificate is a CA")
	}
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("client certificate: %w", err)
	}
	if err := ca.checkWorkloadID(id); err != nil {
		return id, err
	}
	return id, nil
}

func (ca *CA) respondSVID(w http.ResponseWriter, r *http.Request, id spiffeid.ID, pub crypto.PublicKey, how string) {
	chain, err := ca.issueWorkload(r.Context(), id, pub, 0)
	if err != nil {
		ca.refuse(w, r, id.String(), reasonOf(err), err)
		return
	}
	var pemChain bytes.Buffer
	for _, c := range chain {
		pem.Encode(&pemChain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	ca.emit(r, SVIDIssued, event.Info, id.String(), how, certDetail(chain[0]))
	writeJSON(w, http.StatusOK, wire.SVIDResponse{
		SPIFFEID: id.String(),
		Chain:    pemChain.String(),
		Bundle:   string(BundlePEM(ca.Bundle())),
	})
}

func (ca *CA) handleBundle(w http.ResponseWriter, r *http.Request) {
	b := ca.Bundle()
	if r.URL.Query().Get("format") == "pem" || strings.Contains(r.Header.Get("Accept"), "application/x-pem-file") {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(BundlePEM(b))
		return
	}
	writeJSON(w, http.StatusOK, wire.BundleResponse{
		TrustDomain: b.TrustDomain().Name(),
		Roots:       string(BundlePEM(b)),
		RefreshHint: defaultBundleHintS,
	})
}

// refuse answers with a generic error and reports the reason as an event.
func (ca *CA) refuse(w http.ResponseWriter, r *http.Request, principal, reason string, err error) {
	rid := requestID()
	e := event.Event{Type: IssueRefused, Severity: severityOf(reason), Principal: principal, Reason: reason, Detail: err.Error(), RequestID: rid}
	ca.emitEvent(r, e)
	switch reason {
	case ReasonBadRequest, ReasonBadCSR:
		writeJSON(w, http.StatusBadRequest, wire.Error{Error: "bad_request", RequestID: rid})
	case ReasonInternalError:
		writeJSON(w, http.StatusInternalServerError, wire.Error{Error: "internal_error", RequestID: rid})
	case ReasonRateLimited:
		writeJSON(w, http.StatusTooManyRequests, wire.Error{Error: "rate_limited", RequestID: rid})
	default:
		writeJSON(w, http.StatusUnauthorized, wire.Error{Error: "unauthorized", RequestID: rid})
	}
}

// requestID names a refusal in both the response and the event.
func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxBody))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errBadCSR marks parse failures of the CSR itself, as opposed to the envelope.
var errBadCSR = errors.New("bad CSR")

func reasonOfParse(err error) string {
	if errors.Is(err, errBadCSR) {
		return ReasonBadCSR
	}
	return ReasonBadRequest
}

// parseJoinRequest decodes a /v1/join body strictly (one JSON object, no
// unknown fields) and returns the token and the CSR's verified public key.
func parseJoinRequest(body []byte) (token string, pub crypto.PublicKey, err error) {
	var req wire.JoinRequest
	if err := decodeStrict(body, &req); err != nil {
		return "", nil, fmt.Errorf("join request: %w", err)
	}
	if !wellFormedToken(req.Token) {
		return "", nil, errors.New("join request: malformed token")
	}
	pub, err = ParseCSR([]byte(req.CSR))
	if err != nil {
		return "", nil, fmt.Errorf("join request: %w", err)
	}
	return req.Token, pub, nil
}

// parseRenewRequest decodes a /v1/renew body and returns the CSR's verified public key.
func parseRenewRequest(body []byte) (crypto.PublicKey, error) {
	var req wire.RenewRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, fmt.Errorf("renew request: %w", err)
	}
	pub, err := ParseCSR([]byte(req.CSR))
	if err != nil {
		return nil, fmt.Errorf("renew request: %w", err)
	}
	return pub, nil
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return errors.New("decode: data after the JSON object")
	}
	return nil
}

// ParseCSR parses one PEM CERTIFICATE REQUEST, checks its self-signature
// (proof that the requester holds the key) and the key type, and returns
// the public key. Everything else in the CSR is ignored: the CA alone
// decides what the certificate says.
func ParseCSR(pemBytes []byte) (crypto.PublicKey, error) {
	blk, rest := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE REQUEST", errBadCSR)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the CSR", errBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", errBadCSR, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadCSR, err)
	}
	return csr.PublicKey, nil
}

// servingCert is the CA server's own SVID (ID wire.CAID), reissued at half
// life or when another intermediate takes over signing.
type servingCert struct {
	cert    *tls.Certificate
	signer  *x509.Certificate
	renewAt time.Time
}

func (ca *CA) servingCertificate() (*tls.Certificate, error) {
	ca.srvMu.Lock()
	defer ca.srvMu.Unlock()
	now := ca.o.now()
	signer := ca.state().signer(now).cert
	if c := ca.srv; c != nil && now.Before(c.renewAt) && c.signer.Equal(signer) {
		return c.cert, nil
	}
	id, err := wire.CAID(ca.TrustDomain())
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA server certificate: %w", err)
	}
	chain, err := ca.issue(context.Background(), id, key.Public(), ca.o.leafTTL)
	if err != nil {
		return nil, fmt.Errorf("CA server certificate: %w", err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{chain[0].Raw, chain[1].Raw}, PrivateKey: key, Leaf: chain[0]}
	ca.srv = &servingCert{cert: cert, signer: chain[1], renewAt: now.Add(chain[0].NotAfter.Sub(now) / 2)}
	return cert, nil
}

// ServerTLSConfig is the TLS 1.3 configuration of the CA server: it presents
// a CA-issued SVID (spiffe://TD/rampart/ca) and verifies, when one is given,
// the client's SVID against the current bundle (renewal needs one; join and
// bundle do not). Both follow rotations without a restart.
func (ca *CA) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, err := ca.servingCertificate()
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			for _, c := range ca.Bundle().X509Authorities() {
				pool.AddCert(c)
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*cert},
				ClientAuth:   tls.VerifyClientCertIfGiven,
				ClientCAs:    pool,
				NextProtos:   []string{"h2", "http/1.1"},
			}, nil
		},
	}
}

// Serve runs the CA API on ln (TLS is added here) until ctx is done, then
// shuts down gracefully.
func (ca *CA) Serve(ctx context.Context, ln net.Listener, errorLog *log.Logger) error {
	srv := &http.Server{
		Handler:           ca.Handler(),
		TLSConfig:         ca.ServerTLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errorLog,
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	err := srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	stop()
	return fmt.Errorf("CA server: %w", err)
}
