package edgetls

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// defaultDebounce absorbs the burst of events one update produces (a
	// Kubernetes swap is several creates and renames; cert and key are often
	// written one after the other).
	defaultDebounce = 200 * time.Millisecond
	// defaultPollInterval is the safety-net re-read for changes the watch
	// missed. Reading two small files twice a minute costs nothing.
	defaultPollInterval = 30 * time.Second
)

// Reloader serves a certificate/key pair and reloads it when the files change,
// without a restart. Its methods are safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	current atomic.Pointer[keyPair]

	// mu serializes reloads (watch and explicit Reload); readers never take it.
	mu sync.Mutex
	// lastFailed is the digest of the last pair that was refused, so that a
	// burst of events on the same bad files is reported once.
	lastFailed [sha256.Size]byte

	debounce     time.Duration
	pollInterval time.Duration
	// armed, when set (tests), is called once the directory watch is in place.
	armed func()
	now   func() time.Time
}

// keyPair is one loaded, validated certificate/key pair.
type keyPair struct {
	cert   *tls.Certificate
	digest [sha256.Size]byte
}

// NewReloader loads certFile and keyFile (PEM) now. It fails if the pair does
// not parse, the key does not match the certificate, or the certificate is
// expired or not yet valid. A nil logger discards log lines.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	absCert, err := filepath.Abs(certFile)
	if err != nil {
		return nil, fmt.Errorf("load edge certificate %s: %w", certFile, err)
	}
	absKey, err := filepath.Abs(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load edge key %s: %w", keyFile, err)
	}
	r := &Reloader{
		certFile:     absCert,
		keyFile:      absKey,
		logger:       logger,
		debounce:     defaultDebounce,
		pollInterval: defaultPollInterval,
		now:          time.Now,
	}
	kp, err := r.load()
	if err != nil {
		return nil, err
	}
	r.current.Store(kp)
	return r, nil
}

// GetCertificate returns the current certificate; it is meant for
// tls.Config.GetCertificate and never blocks on a reload.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load().cert, nil
}

// Leaf returns the current leaf certificate (for expiry metrics). The caller
// must not modify it.
func (r *Reloader) Leaf() *x509.Certificate {
	return r.current.Load().cert.Leaf
}

// Reload re-reads the files now (the SIGHUP path), even if they look
// unchanged. On error the old pair keeps serving.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	kp, err := r.load()
	if err != nil {
		r.lastFailed = kp.digest
		r.logger.Warn("edge certificate reload refused; keeping the current certificate", "error", err)
		return err
	}
	r.install(kp)
	return nil
}

// Watch watches the directories holding the certificate and key and reloads
// the pair when they change, until ctx is done; run it in its own goroutine.
// After every reload attempt caused by a change, onEvent (which may be nil)
// receives nil for a new pair now serving, or the error that made it refuse the
// new files; the old pair then keeps serving. onEvent also receives an error
// if the watch cannot be set up, in which case Watch falls back to polling.
func (r *Reloader) Watch(ctx context.Context, onEvent func(err error)) {
	if onEvent == nil {
		onEvent = func(error) {}
	}
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	w, err := r.newWatcher()
	if err != nil {
		r.logger.Warn("edge certificate watch unavailable; polling instead",
			"error", err, "poll_interval", r.pollInterval)
		onEvent(err)
	} else {
		defer w.Close()
		events, watchErrs = w.Events, w.Errors
	}
	if r.armed != nil {
		r.armed()
	}

	// Catch up with any change made between loading and arming the watch.
	r.checkAndReport(onEvent)

	debounce := time.NewTimer(r.debounce)
	debounce.Stop()
	defer debounce.Stop()
	poll := time.NewTicker(r.pollInterval)
	defer poll.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Chmod alone never changes what is served; everything else in
			// the directory may be part of a swap, whatever its name.
			if ev.Op == fsnotify.Chmod {
				continue
			}
			// Trailing-edge debounce; a directory that never goes quiet
			// is still covered by the poll.
			debounce.Reset(r.debounce)
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			// Usually a queue overflow: events were lost, so look again.
			r.logger.Warn("edge certificate watch error; re-checking files", "error", err)
			debounce.Reset(r.debounce)
		case <-debounce.C:
			r.checkAndReport(onEvent)
		case <-poll.C:
			r.checkAndReport(onEvent)
		}
	}
}

// newWatcher watches the directories of both files; see the package doc for
// why directories and not the files. fsnotify rather than polling alone: a
// renewal is served within the debounce instead of a poll period, and an idle
// edge does no work; the slow poll only covers what inotify cannot see.
func (r *Reloader) newWatcher() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch edge certificate files: %w", err)
	}
	dirs := []string{filepath.Dir(r.certFile)}
	if d := filepath.Dir(r.keyFile); d != dirs[0] {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch edge certificate directory %s: %w", d, err)
		}
	}
	return w, nil
}

// checkAndReport reloads if the files changed and reports the outcome outside
// the lock, so that onEvent may call back into the Reloader.
func (r *Reloader) checkAndReport(onEvent func(error)) {
	if changed, err := r.check(); changed {
		onEvent(err)
	}
}

// check reloads the pair if the bytes on disk differ from what is serving and
// from the last refused pair. changed reports whether an attempt was made.
func (r *Reloader) check() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kp, err := r.load()
	d := kp.digest
	if d == r.current.Load().digest || (err != nil && d == r.lastFailed) {
		return false, nil
	}
	if err != nil {
		r.lastFailed = d
		r.logger.Warn("edge certificate change refused; keeping the current certificate", "error", err)
		return true, err
	}
	r.install(kp)
	return true, nil
}

// install makes kp the serving pair. The caller holds r.mu.
func (r *Reloader) install(kp *keyPair) {
	r.current.Store(kp)
	r.lastFailed = [sha256.Size]byte{}
	leaf := kp.cert.Leaf
	r.logger.Info("edge certificate loaded",
		"cert_file", r.certFile,
		"subject", leaf.Subject.String(),
		"serial", fmt.Sprintf("%x", leaf.SerialNumber),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"dns_names", leaf.DNSNames)
}

// load reads and validates the pair. It always returns a keyPair; on error its
// cert is nil and its digest identifies what was read (or the read error), so
// that the caller can tell a new bad pair from one already reported.
func (r *Reloader) load() (*keyPair, error) {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return readFailure(err), fmt.Errorf("load edge certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return readFailure(err), fmt.Errorf("load edge key: %w", err)
	}
	kp := &keyPair{digest: pairDigest(certPEM, keyPEM)}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls errors name the problem, never the key bytes.
		return kp, fmt.Errorf("load edge certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return kp, fmt.Errorf("load edge certificate %s: %w", r.certFile, err)
		}
	}
	now := r.now()
	switch {
	case now.After(cert.Leaf.NotAfter):
		return kp, fmt.Errorf("load edge certificate %s: expired at %s", r.certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.Leaf.NotBefore):
		return kp, fmt.Errorf("load edge certificate %s: not valid before %s", r.certFile, cert.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	kp.cert = &cert
	return kp, nil
}

// readFailure gives an unreadable pair a digest of its error, so the same
// missing file is reported once and a different failure is reported again.
func readFailure(err error) *keyPair {
	return &keyPair{digest: sha256.Sum256([]byte("read error: " + err.Error()))}
}

// pairDigest identifies the bytes of a pair; the lengths keep the boundary
// between cert and key unambiguous.
func pairDigest(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(certPEM)))
	h.Write(n[:])
	h.Write(certPEM)
	h.Write(keyPEM)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}
