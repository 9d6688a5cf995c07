package principal

// The identity token's wire format, shared by the gateway that signs it and
// the services that verify it.
const (
	// IdentityHeader is the request header in which the gateway sends the
	// identity token to the upstream service.
	IdentityHeader = "X-Rampart-Identity"
	// IdentityTokenType is the JWS header "typ" of an identity token. It
	// keeps any other JWT (an access token, an ID token) from being accepted
	// as an identity token even if it were signed by the same key.
	IdentityTokenType = "rampart-id+jwt"
	// IdentityAlgorithm is the only signature algorithm of identity tokens.
	IdentityAlgorithm = "EdDSA"
	// DefaultGatewayIssuer is the "iss" of identity tokens unless the
	// gateway is configured otherwise.
	DefaultGatewayIssuer = "rampart-gateway"
	// MaxIdentityTokenSize is the largest identity token, in bytes, that the
	// gateway signs and a Verifier accepts.
	MaxIdentityTokenSize = 8 << 10
)

// Valid reports whether k is one of the kinds defined by this package.
func (k Kind) Valid() bool {
	switch k {
	case User, Service, Client:
		return true
	}
	return false
}

// Valid reports whether m is one of the methods defined by this package.
func (m Method) Valid() bool {
	switch m {
	case JWT, Introspection, MTLS, APIKey, Session:
		return true
	}
	return false
}
