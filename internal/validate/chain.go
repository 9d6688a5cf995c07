package validate

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
)

// Options are one route's validation settings, as the config gives them.
// Nil sections are off.
type Options struct {
	// MaxBody is how much of the body is read for validation (the gateway's
	// body limit); 0 means DefaultMaxBody.
	MaxBody int64
	// Limits are the generic checks: media types and JSON shape. When nil
	// and OpenAPI or WAF is set, JSON bodies get the default JSONLimits.
	Limits *LimitsOptions
	// OpenAPI validates requests against a spec.
	OpenAPI *OpenAPIOptions
	// WAF runs the OWASP CRS.
	WAF *WAFOptions
}

// Compiler builds the routes' chains of one configuration load, sharing
// what is expensive: each spec file is loaded once and each distinct WAF
// option set compiled once. It is safe for concurrent use.
type Compiler struct {
	wafs *wafs

	mu    sync.Mutex
	specs map[string]*Spec
}

// NewCompiler returns a Compiler. With prev (the Compiler of the previous
// load) the compiled WAFs are reused: the CRS is embedded in the binary and
// does not change on reload. Specs are always read again.
func NewCompiler(prev *Compiler) *Compiler {
	c := &Compiler{specs: make(map[string]*Spec)}
	if prev != nil {
		c.wafs = prev.wafs
	} else {
		c.wafs = &wafs{}
	}
	return c
}

// Spec loads the spec at path, once per Compiler.
func (c *Compiler) Spec(path string) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("openapi spec %s: %w", path, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.specs[abs]; s != nil {
		return s, nil
	}
	s, err := LoadSpec(path)
	if err != nil {
		return nil, err
	}
	c.specs[abs] = s
	return s, nil
}

// WAF returns the WAF for o, compiling it on first use of an option set.
func (c *Compiler) WAF(o WAFOptions) (*WAF, error) { return c.wafs.get(o) }

// Chain is one route's compiled validation.
type Chain struct {
	maxBody int64
	limits  *Limits
	openapi *OpenAPI
	waf     *WAF
}

// Compile builds the chain for o. It returns nil, nil when o turns nothing on.
func (c *Compiler) Compile(o Options) (*Chain, error) {
	if o.Limits == nil && o.OpenAPI == nil && o.WAF == nil {
		return nil, nil
	}
	if o.MaxBody < 0 {
		return nil, fmt.Errorf("max body %d: must not be negative", o.MaxBody)
	}
	ch := &Chain{maxBody: o.MaxBody}
	var err error
	if o.Limits != nil {
		if ch.limits, err = NewLimits(*o.Limits); err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
	} else {
		// Whatever else validates a JSON body parses it: it gets the
		// default limits, and duplicate keys (which the validator and the
		// upstream may resolve differently) are refused, whatever the type.
		ch.limits = &Limits{json: new(defaultJSONLimits)}
	}
	if o.OpenAPI != nil {
		spec, err := c.Spec(o.OpenAPI.Spec)
		if err != nil {
			return nil, err
		}
		ch.openapi = NewOpenAPI(spec, o.OpenAPI.RejectUnknownFields)
	}
	if o.WAF != nil {
		if ch.waf, err = c.WAF(*o.WAF); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// Check reads r's body (leaving an identical one in r) and runs the limits,
// then the OpenAPI validation, then the WAF: cheapest first, and the WAF
// last so that it only sees well-formed requests. It returns the first
// Violation that blocks. Report-only Violations (a WAF in detection-only
// mode) do not stop the chain: they are returned in reports, for events.
func (ch *Chain) Check(ctx context.Context, r *http.Request, canon string) (blocked *Violation, reports []*Violation) {
	body, v := ReadBody(r, ch.maxBody)
	if v != nil {
		return v, nil
	}
	scanned := false
	if ch.limits != nil {
		if v, scanned = ch.limits.check(r, body); v != nil {
			return v, nil
		}
	}
	if ch.openapi != nil {
		if v := ch.openapi.check(ctx, r, canon, body, scanned); v != nil {
			return v, nil
		}
	}
	if ch.waf != nil {
		if v := ch.waf.Check(r, canon, body); v != nil {
			if !v.ReportOnly {
				return v, nil
			}
			reports = append(reports, v)
		}
	}
	return nil, reports
}
