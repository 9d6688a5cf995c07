package config

import (
	"fmt"
	"os"
	"strings"
)

// routeValidate checks a route's request validation settings. The spec
// itself and the WAF's rule ids are checked when the gateway compiles the
// route (they need the parser and the embedded rule set).
func (v *validator) routeValidate(p string, r *Route) {
	val := r.Validate
	p += ".validate"
	if val.OpenAPI != "" {
		if fi, err := os.Stat(val.OpenAPI); err != nil || !fi.Mode().IsRegular() {
			v.errorf(p+".openapi", "%s is not a readable file", v.q(p+".openapi", val.OpenAPI))
		}
	} else if val.RejectUnknownFields {
		v.errorf(p+".reject_unknown_fields", "needs openapi (the schema says which fields are known)")
	}
	for i, ct := range val.ContentTypes {
		k := fmt.Sprintf("%s.content_types[%d]", p, i)
		typ, sub, ok := strings.Cut(ct, "/")
		if !ok || typ == "" || sub == "" || strings.ContainsAny(ct, " ;") || (typ == "*" && sub != "*") {
			v.errorf(k, "%s is not a media type (type/subtype, type/* or */*)", v.q(k, ct))
		}
	}
	j := val.JSON
	for _, c := range []struct {
		key      string
		val, max int64
	}{
		{"max_depth", int64(j.MaxDepth), 1000},
		{"max_keys", int64(j.MaxKeys), 1_000_000},
		{"max_string", int64(j.MaxString), 16 << 20},
		{"max_number_len", int64(j.MaxNumberLen), 1000},
		{"max_array", int64(j.MaxArray), 1_000_000},
	} {
		if c.val < 0 || c.val > c.max {
			v.errorf(p+".json."+c.key, "must be between 1 and %d (0: the default)", c.max)
		}
	}
	w := val.WAF
	wafSet := w.AnomalyThreshold != 0 || w.DetectionOnly || len(w.ExcludeRules) > 0 || w.BodyLimit != 0 || w.MaxArgs != 0
	switch {
	case w.Paranoia == 0 && wafSet:
		v.errorf(p+".waf.paranoia", "is required to turn the WAF on (1 to 4; 1 is the CRS default)")
	case w.Paranoia < 0 || w.Paranoia > 4:
		v.errorf(p+".waf.paranoia", "must be between 1 and 4")
	}
	if w.AnomalyThreshold < 0 || w.AnomalyThreshold > 1000 {
		v.errorf(p+".waf.anomaly_threshold", "must be between 1 and 1000 (0: 5, one critical match)")
	}
	if w.BodyLimit < 0 || w.BodyLimit > 16<<20 {
		v.errorf(p+".waf.body_limit", "must be at most 16MiB (0: 128KiB)")
	}
	if w.MaxArgs < 0 || w.MaxArgs > 100000 {
		v.errorf(p+".waf.max_args", "must be between 1 and 100000 (0: 1000)")
	}
}
