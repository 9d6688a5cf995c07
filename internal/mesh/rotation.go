package mesh

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// rotation numbers the generations of the Source's credentials: the
// generation changes when the SVID or the trust bundle is replaced.
// Connections remember the generation they were made in; one made in an
// older generation is retired after its current request, so the peers
// handshake again with the new certificate and are authorized again
// against the new bundle.
//
// The Source has no change notification, so the generation is checked when
// it matters: on every request and every new connection. That costs two
// atomic loads and two pointer compares.
type rotation struct {
	src Source
	td  spiffeid.TrustDomain
	log *slog.Logger

	mu     sync.Mutex
	svid   atomic.Pointer[x509svid.SVID]
	bundle atomic.Pointer[x509bundle.Bundle]
	gen    atomic.Uint64
}

func newRotation(src Source, td spiffeid.TrustDomain, log *slog.Logger) *rotation {
	r := &rotation{src: src, td: td, log: log}
	r.current()
	return r
}

// current returns the generation of the Source's credentials now, and the
// bundle of the trust domain in it (nil if the Source has none).
func (r *rotation) current() (uint64, *x509bundle.Bundle) {
	svid, _ := r.src.GetX509SVID()
	bundle, _ := r.src.GetX509BundleForTrustDomain(r.td)
	if svid == r.svid.Load() && bundle == r.bundle.Load() {
		return r.gen.Load(), bundle
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if svid != r.svid.Load() || bundle != r.bundle.Load() {
		r.svid.Store(svid)
		r.bundle.Store(bundle)
		g := r.gen.Add(1)
		if g > 1 {
			r.log.Debug("mesh: credentials rotated; connections of older generations will be retired", "generation", g)
		}
	}
	return r.gen.Load(), bundle
}
