package gateway

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/rampart-sec/rampart/internal/requestid"
)

// trust decides which peers' forwarding headers are believed.
type trust struct {
	proxies []netip.Prefix
}

func newTrust(cidrs []string) (trust, error) {
	var t trust
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			t.proxies = append(t.proxies, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(c)
		if err != nil {
			return t, err
		}
		t.proxies = append(t.proxies, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return t, nil
}

func (t trust) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr parses r.RemoteAddr; the zero Addr when it cannot be parsed.
func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// forwarded is what the gateway tells the upstream about the client.
type forwarded struct {
	clientIP  netip.Addr
	client    string // clientIP.String(), computed once
	xff       string // X-Forwarded-For to send upstream
	proto     string // X-Forwarded-Proto
	host      string // X-Forwarded-Host
	requestID string
	spoofed   bool // the client sent forwarding headers it is not trusted to send
}

// resolve computes the client address and the forwarding headers. Inbound
// X-Forwarded-* and X-Request-Id are believed only from trusted proxies; the
// client address is the rightmost address in X-Forwarded-For that is not a
// trusted proxy (the leftmost entries are whatever the client wrote).
func (t trust) resolve(r *http.Request, tlsOn bool) forwarded {
	peer := peerAddr(r.RemoteAddr)
	f := forwarded{clientIP: peer, proto: "http", host: r.Host}
	if tlsOn {
		f.proto = "https"
	}
	peerStr := peer.String()
	xffIn := r.Header.Values("X-Forwarded-For")
	if len(t.proxies) == 0 || !peer.IsValid() || !t.trusted(peer) {
		f.xff = peerStr
		if len(xffIn) > 0 || r.Header.Get("X-Forwarded-Proto") != "" || r.Header.Get("X-Forwarded-Host") != "" ||
			r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
			f.spoofed = true
		}
		f.client = peerStr
		f.requestID = requestid.New()
		return f
	}
	// Trusted proxy: walk the chain right to left.
	chain := make([]netip.Addr, 0, 4)
	valid := true
	for _, line := range xffIn {
		for part := range strings.SplitSeq(line, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				valid = false
				break
			}
			chain = append(chain, a.Unmap())
		}
	}
	if valid {
		for i := len(chain) - 1; i >= 0; i-- {
			f.clientIP = chain[i]
			if !t.trusted(chain[i]) {
				break
			}
		}
		var b strings.Builder
		for _, a := range chain {
			b.WriteString(a.String())
			b.WriteString(", ")
		}
		b.WriteString(peerStr)
		f.xff = b.String()
	} else {
		// A malformed chain is not believed at all.
		f.xff = peerStr
		f.spoofed = true
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		f.proto = p
	}
	if h := r.Header.Get("X-Forwarded-Host"); h != "" && validHost(h) {
		f.host = h
	}
	f.client = f.clientIP.String()
	if id := r.Header.Get("X-Request-Id"); requestid.Valid(id) {
		f.requestID = id
	} else {
		f.requestID = requestid.New()
	}
	return f
}

// validHost accepts host names, IPv4, bracketed IPv6 and an optional port.
func validHost(h string) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
