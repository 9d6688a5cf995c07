package gateway

import (
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/validate"
)

// validateOptions converts a route's validate settings; nil when the route
// validates nothing.
func validateOptions(v config.Validate, maxBody int64) *validate.Options {
	o := validate.Options{MaxBody: maxBody}
	j := v.JSON
	if len(v.ContentTypes) > 0 || j != (config.JSONLimits{}) {
		o.Limits = &validate.LimitsOptions{MediaTypes: v.ContentTypes, JSON: &validate.JSONLimits{
			MaxDepth: j.MaxDepth, MaxKeys: j.MaxKeys, MaxStringLen: int(j.MaxString),
			MaxNumberLen: j.MaxNumberLen, MaxArrayLen: j.MaxArray,
		}}
	}
	if v.OpenAPI != "" {
		o.OpenAPI = &validate.OpenAPIOptions{Spec: v.OpenAPI, RejectUnknownFields: v.RejectUnknownFields}
	}
	if w := v.WAF; w.Paranoia > 0 {
		o.WAF = &validate.WAFOptions{Paranoia: w.Paranoia, AnomalyThreshold: w.AnomalyThreshold,
			DetectionOnly: w.DetectionOnly, ExcludeRules: w.ExcludeRules, BodyLimit: int(w.BodyLimit),
			MaxArgs: w.MaxArgs}
	}
	if o.Limits == nil && o.OpenAPI == nil && o.WAF == nil {
		return nil
	}
	return &o
}
