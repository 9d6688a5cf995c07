package mesh

import (
	"errors"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{
		Service: "spiffe://mesh.test/accounts",
		Listen:  ":8443",
		App:     "127.0.0.1:8080",
		Inbound: []Rule{{Caller: "spiffe://mesh.test/orders", Methods: []string{"GET"}, Paths: []string{"/accounts/{id}", "/*"}}},
		Outbound: []Dependency{
			{Name: "ledger", Listen: "127.0.0.1:7001", Target: "ledger.internal:8443", SPIFFEID: "spiffe://mesh.test/ledger"},
		},
	}
}

func TestValidateAcceptsValid(t *testing.T) {
	if errs := Validate(validConfig()); len(errs) != 0 {
		t.Fatal(errs)
	}
	cfg := validConfig()
	cfg.App = "[::1]:8080"
	cfg.Inbound = nil // an outbound-only service refuses every caller
	if errs := Validate(cfg); len(errs) != 0 {
		t.Fatal(errs)
	}
}

func TestValidateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
		is    error
	}{
		{"service missing", func(c *Config) { c.Service = "" }, "service", ErrBadSPIFFEID},
		{"service without path", func(c *Config) { c.Service = "spiffe://mesh.test" }, "service", ErrBadSPIFFEID},
		{"service not a URI", func(c *Config) { c.Service = "accounts" }, "service", ErrBadSPIFFEID},
		{"listen", func(c *Config) { c.Listen = "8443" }, "listen", nil},
		{"app on all interfaces", func(c *Config) { c.App = ":8080" }, "app", ErrNotLoopback},
		{"app on a LAN address", func(c *Config) { c.App = "10.0.0.5:8080" }, "app", ErrNotLoopback},
		{"app by name", func(c *Config) { c.App = "localhost:8080" }, "app", ErrNotLoopback},
		{"app without port", func(c *Config) { c.App = "127.0.0.1" }, "app", ErrNotLoopback},
		{"app port 0", func(c *Config) { c.App = "127.0.0.1:0" }, "app", nil},
		{"caller by bare name", func(c *Config) { c.Inbound[0].Caller = "orders" }, "inbound[0].caller", ErrBadSPIFFEID},
		{"caller malformed", func(c *Config) { c.Inbound[0].Caller = "spiffe://Mesh.Test/orders" }, "inbound[0].caller", ErrBadSPIFFEID},
		{"caller in another trust domain", func(c *Config) { c.Inbound[0].Caller = "spiffe://other.test/orders" }, "inbound[0].caller", ErrTrustDomain},
		{"no methods", func(c *Config) { c.Inbound[0].Methods = nil }, "inbound[0].methods", ErrBadMethod},
		{"lowercase method", func(c *Config) { c.Inbound[0].Methods = []string{"get"} }, "inbound[0].methods", ErrBadMethod},
		{"CONNECT", func(c *Config) { c.Inbound[0].Methods = []string{"CONNECT"} }, "inbound[0].methods", ErrBadMethod},
		{"no paths", func(c *Config) { c.Inbound[0].Paths = nil }, "inbound[0].paths", ErrBadTemplate},
		{"relative path", func(c *Config) { c.Inbound[0].Paths = []string{"accounts"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"dot segment", func(c *Config) { c.Inbound[0].Paths = []string{"/a/../admin"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"encoded slash", func(c *Config) { c.Inbound[0].Paths = []string{"/a%2fb"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"lowercase escape", func(c *Config) { c.Inbound[0].Paths = []string{"/a%3ab"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"semicolon", func(c *Config) { c.Inbound[0].Paths = []string{"/a;b"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"star in the middle", func(c *Config) { c.Inbound[0].Paths = []string{"/a/*/b"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"partial star", func(c *Config) { c.Inbound[0].Paths = []string{"/a*"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"partial param", func(c *Config) { c.Inbound[0].Paths = []string{"/a/x{id}"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"empty param", func(c *Config) { c.Inbound[0].Paths = []string{"/a/{}"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"double slash", func(c *Config) { c.Inbound[0].Paths = []string{"/a//b"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"trailing slash", func(c *Config) { c.Inbound[0].Paths = []string{"/a/"} }, "inbound[0].paths[0]", ErrBadTemplate},
		{"dependency name", func(c *Config) { c.Outbound[0].Name = "Ledger DB" }, "outbound[0].name", nil},
		{"dependency twice", func(c *Config) {
			d := c.Outbound[0]
			d.Listen = "127.0.0.1:7002"
			c.Outbound = append(c.Outbound, d)
		}, "outbound[1].name", ErrDuplicateName},
		{"dependency listen not loopback", func(c *Config) { c.Outbound[0].Listen = "0.0.0.0:7001" }, "outbound[0].listen", ErrNotLoopback},
		{"dependency listen shared", func(c *Config) {
			d := c.Outbound[0]
			d.Name = "other"
			c.Outbound = append(c.Outbound, d)
		}, "outbound[1].listen", ErrDuplicateName},
		{"dependency target", func(c *Config) { c.Outbound[0].Target = "ledger.internal" }, "outbound[0].target", nil},
		{"dependency target port 0", func(c *Config) { c.Outbound[0].Target = "ledger.internal:0" }, "outbound[0].target", nil},
		{"dependency ID", func(c *Config) { c.Outbound[0].SPIFFEID = "ledger" }, "outbound[0].spiffe_id", ErrBadSPIFFEID},
		{"dependency in another trust domain", func(c *Config) { c.Outbound[0].SPIFFEID = "spiffe://other.test/ledger" }, "outbound[0].spiffe_id", ErrTrustDomain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.edit(&cfg)
			errs := Validate(cfg)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			var ce *ConfigError
			if !errors.As(errs[0], &ce) || ce.Field != tc.field {
				t.Fatalf("error %v, want field %s", errs[0], tc.field)
			}
			if tc.is != nil && !errors.Is(errs[0], tc.is) {
				t.Fatalf("error %v is not %v", errs[0], tc.is)
			}
			if !strings.HasPrefix(errs[0].Error(), tc.field+": ") {
				t.Errorf("message %q does not start with the field", errs[0])
			}
		})
	}
}

// Every problem is listed, not just the first.
func TestValidateListsEveryProblem(t *testing.T) {
	cfg := validConfig()
	cfg.App = "10.0.0.5:8080"
	cfg.Inbound[0].Caller = "orders"
	cfg.Outbound[0].SPIFFEID = ""
	if errs := Validate(cfg); len(errs) != 3 {
		t.Fatalf("got %v", errs)
	}
}

func TestNewRefusesAnotherIdentity(t *testing.T) {
	ca := newTestCA(t, testTD, 0)
	cfg := validConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Outbound = nil
	if _, err := New(cfg, ca.source(t, ordersID), Options{Log: quiet}); err == nil || !strings.Contains(err.Error(), "SVID names") {
		t.Fatalf("New with the SVID of orders for accounts: %v", err)
	}
	cfg.App = "10.0.0.5:1"
	var ce *ConfigError
	if _, err := New(cfg, ca.source(t, accountsID), Options{Log: quiet}); !errors.As(err, &ce) || ce.Field != "app" {
		t.Fatalf("New with an invalid config: %v", err)
	}
}
