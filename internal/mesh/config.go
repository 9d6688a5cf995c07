package mesh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Config is one sidecar: the service it fronts, who may call it, and what it calls.
type Config struct {
	// Service is the SPIFFE ID of the service; the sidecar's SVID must name it.
	Service string `yaml:"service"`
	// Listen is where callers reach the service over mTLS, e.g. ":8443".
	Listen string `yaml:"listen"`
	// App is the service itself, a loopback host:port (127.0.0.1:8080). The
	// app must listen on loopback only: anything that can reach it directly
	// bypasses the sidecar and can forge X-Rampart-Caller.
	App string `yaml:"app"`
	// Inbound lists what callers may do; every other request is refused.
	Inbound []Rule `yaml:"inbound"`
	// Outbound lists the services the app calls through the sidecar.
	Outbound []Dependency `yaml:"outbound"`
}

// Rule lets one caller use some methods on some paths.
type Rule struct {
	// Caller is the caller's SPIFFE ID, in the service's trust domain.
	Caller string `yaml:"caller"`
	// Methods are uppercase method names, or "*" for every method. GET
	// allows HEAD too.
	Methods []string `yaml:"methods"`
	// Paths are templates matched against the canonical path: "/status"
	// (exact), "/accounts/{id}" ({name} is one non-empty segment),
	// "/static/*" ("/static" and everything below) and "/*" (every path).
	// Literals match case-sensitively and one trailing slash of the request
	// path is ignored.
	Paths []string `yaml:"paths"`
}

// Dependency is a service the app calls: the app sends plaintext HTTP to
// Listen on loopback and the sidecar forwards it over mTLS to Target, which
// must present SPIFFEID.
type Dependency struct {
	// Name names the dependency in events and logs: lowercase letters,
	// digits and '-'.
	Name string `yaml:"name"`
	// Listen is the loopback address the app calls, e.g. 127.0.0.1:7001.
	// Every local process can use it and so act as this service; that is
	// the trust boundary of any sidecar.
	Listen string `yaml:"listen"`
	// Target is the host:port of the dependency's sidecar (or any server
	// with an SVID from the same CA).
	Target string `yaml:"target"`
	// SPIFFEID is the identity Target must present.
	SPIFFEID string `yaml:"spiffe_id"`
}

// ConfigError is one problem in a Config. Field is the key path, e.g.
// "inbound[2].caller", so a loader can point at the file and line.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// Errors a caller can test with errors.Is.
var (
	ErrNotLoopback   = errors.New("must be a loopback IP address (127.0.0.0/8 or ::1) with a port")
	ErrTrustDomain   = errors.New("SPIFFE ID is not in the service's trust domain")
	ErrBadSPIFFEID   = errors.New("not a SPIFFE ID naming a workload (spiffe://trust-domain/path)")
	ErrBadTemplate   = errors.New("invalid path template")
	ErrBadMethod     = errors.New("invalid method")
	ErrDuplicateName = errors.New("duplicate")
)

// Validate lists every problem in cfg; nil means New will accept it.
func Validate(cfg Config) []error {
	var errs []error
	bad := func(field string, err error) { errs = append(errs, &ConfigError{Field: field, Err: err}) }

	service, err := workloadID(cfg.Service)
	if err != nil {
		bad("service", err)
	}
	if err := checkHostPort(cfg.Listen, false); err != nil {
		bad("listen", err)
	}
	if err := checkLoopback(cfg.App, false); err != nil {
		bad("app", err)
	}
	for i, r := range cfg.Inbound {
		field := fmt.Sprintf("inbound[%d]", i)
		if _, err := peerID(r.Caller, service); err != nil {
			bad(field+".caller", err)
		}
		if _, err := parseMethods(r.Methods); err != nil {
			bad(field+".methods", err)
		}
		if len(r.Paths) == 0 {
			bad(field+".paths", fmt.Errorf("%w: at least one path is required (\"/*\" for every path)", ErrBadTemplate))
		}
		for j, p := range r.Paths {
			if _, err := parseTemplate(p); err != nil {
				bad(fmt.Sprintf("%s.paths[%d]", field, j), err)
			}
		}
	}
	names := map[string]bool{}
	listens := map[string]string{}
	for i, d := range cfg.Outbound {
		field := fmt.Sprintf("outbound[%d]", i)
		if !validName(d.Name) {
			bad(field+".name", fmt.Errorf("%q: want lowercase letters, digits and '-'", d.Name))
		} else if names[d.Name] {
			bad(field+".name", fmt.Errorf("%w name %q", ErrDuplicateName, d.Name))
		}
		names[d.Name] = true
		if err := checkLoopback(d.Listen, true); err != nil {
			bad(field+".listen", err)
		} else if prev, ok := listens[d.Listen]; ok && !strings.HasSuffix(d.Listen, ":0") {
			bad(field+".listen", fmt.Errorf("%w listen address %s (also %s)", ErrDuplicateName, d.Listen, prev))
		}
		listens[d.Listen] = field
		if err := checkHostPort(d.Target, true); err != nil {
			bad(field+".target", err)
		}
		if _, err := peerID(d.SPIFFEID, service); err != nil {
			bad(field+".spiffe_id", err)
		}
	}
	return errs
}

// workloadID parses a SPIFFE ID that names a workload (it has a path).
func workloadID(s string) (spiffeid.ID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("%q: %w: %w", s, ErrBadSPIFFEID, err)
	}
	if id.Path() == "" {
		return spiffeid.ID{}, fmt.Errorf("%q has no path: %w", s, ErrBadSPIFFEID)
	}
	return id, nil
}

// peerID parses a caller's or a dependency's ID. Only the service's own
// trust domain is trusted (the Source holds that one bundle), so an ID in
// another could never authenticate: refusing it here beats a rule that
// silently never matches. With service unknown (itself invalid), only the
// syntax is checked.
func peerID(s string, service spiffeid.ID) (spiffeid.ID, error) {
	id, err := workloadID(s)
	if err != nil {
		return id, err
	}
	if !service.IsZero() && id.TrustDomain() != service.TrustDomain() {
		return id, fmt.Errorf("%s (service trust domain %s): %w", id, service.TrustDomain(), ErrTrustDomain)
	}
	return id, nil
}

// checkHostPort accepts host:port with a host (or an empty host for every
// interface, when !needHost) and a port; port 0 only when !needHost.
func checkHostPort(addr string, needHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	if needHost && host == "" {
		return fmt.Errorf("%q: host is missing", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (needHost && n == 0) {
		return fmt.Errorf("%q: invalid port", addr)
	}
	return nil
}

// checkLoopback accepts only an IP literal on loopback: a name such as
// "localhost" is resolved by whatever the resolver says, which is not a
// promise that the traffic stays on the machine.
func checkLoopback(addr string, portZeroOK bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() || ip.Zone() != "" {
		return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !portZeroOK) {
		return fmt.Errorf("%q: invalid port", addr)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
