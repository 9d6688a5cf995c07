package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"strings"
	"sync"
)

// This file parses and verifies compact JWS by hand, with the standard
// library's signature primitives, instead of go-jose's ParseSignedCompact
// (go-jose still parses the key sets, see keyset.go). The reason is what
// go-jose does before a caller can look at the header: it decodes embedded
// "jwk" keys and parses "x5c" certificate chains from attacker input, honours
// "crit": ["b64"] (unencoded payloads), and lets duplicate header names
// through (last one wins). Here the header is read as a stream, every name
// is checked before its value is decoded, and anything we do not need is
// refused. It is also cheaper on the cold path (see BenchmarkVerifyCold).

var b64 = base64.RawURLEncoding.Strict()

// jws is a compact JWS whose header passed the checks; the signature is not
// verified yet.
type jws struct {
	alg, kid, typ string
	// signingInput is "header.payload", a substring of the token.
	signingInput string
	payload      []byte
	sig          []byte
}

// parseJWS splits and decodes a compact JWS and checks its header. It never
// verifies anything: see verifySignature.
func parseJWS(tok string, known *headerCache) (*jws, *Error) {
	// Count first: a token of many dots must not make us split it into
	// many parts (the "many dots" memory blow-up).
	if strings.Count(tok, ".") != 2 {
		return nil, refuse(ReasonMalformedToken)
	}
	h, rest, _ := strings.Cut(tok, ".")
	p, s, _ := strings.Cut(rest, ".")
	if h == "" || p == "" {
		return nil, refuse(ReasonMalformedToken)
	}
	j := &jws{signingInput: tok[:len(h)+1+len(p)]}
	if hd, ok := known.get(h); ok {
		j.alg, j.kid, j.typ = hd.alg, hd.kid, hd.typ
	} else {
		hdr, err := b64.DecodeString(h)
		if err != nil {
			return nil, refuse(ReasonMalformedToken)
		}
		// The header first, so that an unsigned "alg: none" token is
		// reported as what it is.
		if e := j.readHeader(hdr); e != nil {
			return nil, e
		}
	}
	var err error
	if s == "" {
		return nil, refuse(ReasonMalformedToken)
	}
	if j.payload, err = b64.DecodeString(p); err != nil {
		return nil, refuse(ReasonMalformedToken)
	}
	if j.sig, err = b64.DecodeString(s); err != nil {
		return nil, refuse(ReasonMalformedToken)
	}
	return j, nil
}

// header is what we read of a JOSE header. encoding/json matches names
// ignoring case, which is stricter here: "JWK" is refused like "jwk".
type header struct {
	Alg *string `json:"alg"`
	Kid string  `json:"kid"`
	Typ string  `json:"typ"`
	Cty string  `json:"cty"`
	// The token names its own key: never trusted, never even parsed.
	Jwk     json.RawMessage `json:"jwk"`
	Jku     json.RawMessage `json:"jku"`
	X5u     json.RawMessage `json:"x5u"`
	X5c     json.RawMessage `json:"x5c"`
	X5t     json.RawMessage `json:"x5t"`
	X5tS256 json.RawMessage `json:"x5t#S256"`
	// No extension is understood, so any critical one must fail (RFC 7515 §4.1.11).
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
	// JWE headers: encrypted or compressed tokens are not accepted.
	Enc json.RawMessage `json:"enc"`
	Zip json.RawMessage `json:"zip"`
	Epk json.RawMessage `json:"epk"`
	P2s json.RawMessage `json:"p2s"`
	P2c json.RawMessage `json:"p2c"`
}

// readHeader decodes and judges the JOSE header; names must be unique.
func (j *jws) readHeader(b []byte) *Error {
	var h header
	if err := json.Unmarshal(b, &h); err != nil || !uniqueTopLevelNames(b) {
		return refuse(ReasonMalformedToken)
	}
	switch {
	case h.Jwk != nil || h.Jku != nil || h.X5u != nil || h.X5c != nil || h.X5t != nil || h.X5tS256 != nil:
		return refuse(ReasonEmbeddedKey)
	case h.Crit != nil || h.B64 != nil:
		return refuse(ReasonCrit)
	case h.Enc != nil || h.Zip != nil || h.Epk != nil || h.P2s != nil || h.P2c != nil:
		return refuse(ReasonMalformedToken)
	case strings.EqualFold(h.Cty, "JWT"):
		// A nested JWT would be a second token to verify; we never do.
		return refuse(ReasonMalformedToken)
	case h.Alg == nil || *h.Alg == "":
		return refuse(ReasonMalformedToken)
	case strings.EqualFold(*h.Alg, "none"):
		return refuse(ReasonAlgNone)
	}
	j.alg, j.kid, j.typ = *h.Alg, h.Kid, h.Typ
	return nil
}

// headerCache remembers the encoded headers of tokens that verified: an
// issuer signs every token with one of a few headers, so a new token's
// header is usually one already read. Only headers of verified tokens are
// added (a forger cannot fill it), and it stops growing at a small bound.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]parsedHeader
}

type parsedHeader struct{ alg, kid, typ string }

const maxCachedHeaders = 64

func (c *headerCache) get(h string) (parsedHeader, bool) {
	c.mu.RLock()
	ph, ok := c.m[h]
	c.mu.RUnlock()
	return ph, ok
}

func (c *headerCache) add(h string, ph parsedHeader) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]parsedHeader)
	}
	if len(c.m) < maxCachedHeaders {
		c.m[h] = ph
	}
	c.mu.Unlock()
}

// verifySignature checks sig over input with k for alg. The caller has made
// sure that alg is allowed for the issuer and compatible with k.
func verifySignature(alg string, k *key, input string, sig []byte) bool {
	switch alg {
	case "EdDSA":
		pub, ok := k.pub.(ed25519.PublicKey)
		return ok && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, []byte(input), sig)
	case "ES256":
		h := sha256.Sum256([]byte(input))
		return verifyECDSA(k, h[:], sig, 32)
	case "ES384":
		h := sha512.Sum384([]byte(input))
		return verifyECDSA(k, h[:], sig, 48)
	case "RS256", "PS256":
		pub, ok := k.pub.(*rsa.PublicKey)
		if !ok {
			return false
		}
		h := sha256.Sum256([]byte(input))
		if alg == "RS256" {
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
		}
		// RFC 7518 §3.5: the salt is as long as the hash.
		return rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "HS256":
		if len(k.hmac) == 0 {
			return false
		}
		m := hmac.New(sha256.New, k.hmac)
		io.WriteString(m, input)
		return hmac.Equal(m.Sum(nil), sig)
	}
	return false
}

// verifyECDSA checks a JWS ECDSA signature: exactly R||S of the curve's size
// (RFC 7518 §3.4), never DER. ecdsa.Verify refuses R or S of zero, so the
// all-zero "psychic signature" fails here too.
func verifyECDSA(k *key, hash, sig []byte, size int) bool {
	pub, ok := k.pub.(*ecdsa.PublicKey)
	if !ok || len(sig) != 2*size || (pub.Curve.Params().BitSize+7)/8 != size {
		return false
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	return ecdsa.Verify(pub, hash, r, s)
}
