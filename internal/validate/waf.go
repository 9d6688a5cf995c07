package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// WAFOptions configure a route's web application firewall: Coraza with the
// OWASP Core Rule Set v4, request phases only.
type WAFOptions struct {
	// Paranoia is the CRS blocking paranoia level, 1 to 4 (default 1).
	Paranoia int
	// AnomalyThreshold is the inbound anomaly score at which a request is
	// blocked (default 5: one critical match).
	AnomalyThreshold int
	// DetectionOnly reports what would have been blocked and blocks nothing.
	DetectionOnly bool
	// ExcludeRules are CRS rule ids to remove; an id the CRS does not have
	// is an error, so a typo cannot silently keep a rule on.
	ExcludeRules []int
	// BodyLimit is how many body bytes the WAF inspects (default 128 KiB).
	// A larger body is refused: bytes the WAF did not see must not reach
	// the upstream.
	BodyLimit int
	// MaxArgs is how many arguments the WAF inspects in each of the query,
	// the path and the body (default DefaultWAFMaxArgs); a request with more
	// is refused, for the same reason, and because inspection costs CPU
	// per argument.
	MaxArgs int
}

// DefaultWAFMaxArgs is MaxArgs when 0: Coraza's recommended SecArgumentsLimit.
const DefaultWAFMaxArgs = 1000

// DefaultWAFBodyLimit is the WAF's inspection limit when BodyLimit is 0.
const DefaultWAFBodyLimit = 128 << 10

func (o WAFOptions) withDefaults() (WAFOptions, error) {
	if o.Paranoia == 0 {
		o.Paranoia = 1
	}
	if o.AnomalyThreshold == 0 {
		o.AnomalyThreshold = 5
	}
	if o.BodyLimit == 0 {
		o.BodyLimit = DefaultWAFBodyLimit
	}
	if o.MaxArgs == 0 {
		o.MaxArgs = DefaultWAFMaxArgs
	}
	switch {
	case o.Paranoia < 1 || o.Paranoia > 4:
		return o, fmt.Errorf("waf paranoia %d: want 1 to 4", o.Paranoia)
	case o.AnomalyThreshold < 1:
		return o, fmt.Errorf("waf anomaly threshold %d: want at least 1", o.AnomalyThreshold)
	case o.BodyLimit < 0:
		return o, fmt.Errorf("waf body limit %d: must not be negative", o.BodyLimit)
	case o.MaxArgs < 0:
		return o, fmt.Errorf("waf max args %d: must not be negative", o.MaxArgs)
	}
	o.ExcludeRules = slices.Clone(o.ExcludeRules)
	slices.Sort(o.ExcludeRules)
	o.ExcludeRules = slices.Compact(o.ExcludeRules)
	return o, nil
}

// key identifies an option set: routes with equal keys share one WAF.
func (o WAFOptions) key() string {
	return fmt.Sprintf("p%d t%d d%t b%d a%d x%v", o.Paranoia, o.AnomalyThreshold, o.DetectionOnly, o.BodyLimit, o.MaxArgs, o.ExcludeRules)
}

// directives is the Coraza configuration for o (already defaulted).
func (o WAFOptions) directives() string {
	var b strings.Builder
	engine := "On"
	if o.DetectionOnly {
		engine = "DetectionOnly"
	}
	// SecRxPreFilter skips a regex when a literal it requires is absent
	// from the input; it must precede the rules it compiles. It cuts the
	// cost of benign requests severalfold (see the benchmarks) and by
	// construction only skips inputs that cannot match.
	fmt.Fprintf(&b, `SecRxPreFilter On
Include @coraza.conf-recommended
SecRuleEngine %s
SecRequestBodyAccess On
SecRequestBodyLimit %d
SecRequestBodyInMemoryLimit %d
SecRequestBodyLimitAction ProcessPartial
SecArgumentsLimit %d
SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:190001,phase:1,t:none,log,deny,status:413,msg:'Argument limit reached (query, path)'"
SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:190002,phase:2,t:none,log,deny,status:413,msg:'Argument limit reached (body)'"
SecResponseBodyAccess Off
SecAuditEngine Off
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"
SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=4"
Include @owasp_crs/REQUEST-*.conf
`, engine, max(o.BodyLimit, 1), max(o.BodyLimit, 1), o.MaxArgs, o.Paranoia, o.AnomalyThreshold)
	for _, id := range o.ExcludeRules {
		fmt.Fprintf(&b, "SecRuleRemoveById %d\n", id)
	}
	return b.String()
}

// WAF inspects requests with one compiled rule set. It is safe for
// concurrent use; routes with the same options share one.
type WAF struct {
	waf  coraza.WAF
	opts WAFOptions
}

// newWAF compiles the CRS for o; known are the CRS rule ids.
func newWAF(o WAFOptions, known map[int]bool) (*WAF, error) {
	for _, id := range o.ExcludeRules {
		if !known[id] {
			return nil, fmt.Errorf("waf exclude rule %d: no such CRS rule", id)
		}
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(o.directives()))
	if err != nil {
		return nil, fmt.Errorf("compile waf rules: %w", err)
	}
	return &WAF{waf: w, opts: o}, nil
}

var ruleIDPattern = regexp.MustCompile(`\bid:'?(\d+)`)

// crsRuleIDs lists the rule ids of the embedded CRS request rules, to
// check exclusions against.
func crsRuleIDs() (map[int]bool, error) {
	files, err := fs.Glob(coreruleset.FS, "@owasp_crs/REQUEST-*.conf")
	if err != nil {
		return nil, fmt.Errorf("list CRS rule files: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("list CRS rule files: none embedded")
	}
	ids := make(map[int]bool, 1024)
	for _, f := range files {
		b, err := fs.ReadFile(coreruleset.FS, f)
		if err != nil {
			return nil, fmt.Errorf("read CRS rule file %s: %w", f, err)
		}
		for _, m := range ruleIDPattern.FindAllSubmatch(b, -1) {
			id, _ := strconv.Atoi(string(m[1]))
			ids[id] = true
		}
	}
	return ids, nil
}

// CRS rule ids of the anomaly-score evaluation that blocks (or, in
// detection-only mode, would block) the request.
const (
	ruleInboundBlock      = 949110
	ruleInboundBlockEarly = 949111
)

// Rampart's own rules that refuse a request with more arguments than
// SecArgumentsLimit (query and path; body). Coraza drops the arguments past
// the limit and only sets ARGUMENTS_LIMIT_REACHED; the coraza.conf
// embedded with the CRS has no rule reading it, so without these an attack
// placed after the limit's worth of junk arguments would not be inspected.
const (
	ruleArgsLimitURI  = 190001
	ruleArgsLimitBody = 190002
)

// maxReportedRules bounds the rule ids listed in a Violation's detail.
const maxReportedRules = 12

// Check inspects r with its canonical path canon (the path the gateway
// routed on, so the WAF cannot be shown a different one) and the body read
// by ReadBody. It returns a Violation with reason "waf" listing the matched
// CRS rule ids when the anomaly threshold is reached; in detection-only
// mode the Violation is ReportOnly.
func (w *WAF) Check(r *http.Request, canon string, body []byte) *Violation {
	if len(body) > w.opts.BodyLimit {
		v := violation(ReasonWAF, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("body of %d bytes exceeds the WAF inspection limit of %d", len(body), w.opts.BodyLimit))
		v.ReportOnly = w.opts.DetectionOnly
		return v
	}
	tx := w.waf.NewTransaction()
	defer func() {
		tx.ProcessLogging()
		tx.Close()
	}()
	client, cport := splitHostPort(r.RemoteAddr)
	tx.ProcessConnection(client, cport, "", 0)
	uri := canon
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	tx.AddRequestHeader("Host", r.Host)
	tx.SetServerName(hostOnly(r.Host))
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	// net/http moves these out of the header map; CRS protocol rules read them.
	if len(body) > 0 || r.ContentLength > 0 {
		tx.AddRequestHeader("Content-Length", strconv.Itoa(len(body)))
	}
	if len(r.TransferEncoding) > 0 {
		tx.AddRequestHeader("Transfer-Encoding", strings.Join(r.TransferEncoding, ", "))
	}
	it := tx.ProcessRequestHeaders()
	if it == nil {
		if len(body) > 0 {
			var err error
			if it, _, err = tx.WriteRequestBody(body); err != nil {
				return violation(ReasonWAF, http.StatusInternalServerError, "waf could not buffer the body")
			}
		}
		if it == nil {
			var err error
			if it, err = tx.ProcessRequestBody(); err != nil {
				return violation(ReasonWAF, http.StatusInternalServerError, "waf could not process the body")
			}
		}
	}
	return w.verdict(it, tx.MatchedRules())
}

// verdict turns the transaction's outcome into a Violation, or nil.
func (w *WAF) verdict(it *types.Interruption, matched []types.MatchedRule) *Violation {
	blocked := it != nil
	var ids []int
	for _, m := range matched {
		id := m.Rule().ID()
		switch {
		case id == ruleArgsLimitURI || id == ruleArgsLimitBody:
			// Arguments past the limit were not inspected: refused, like a
			// body past BodyLimit.
			v := violation(ReasonWAF, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("more than %d arguments in the query, path or body: the WAF would not inspect them all", w.opts.MaxArgs))
			v.ReportOnly = w.opts.DetectionOnly
			return v
		case id == ruleInboundBlock || id == ruleInboundBlockEarly:
			blocked = true
		case id >= 911000 && id < 949000 && m.Message() != "" && len(ids) < maxReportedRules && !slices.Contains(ids, id):
			// The detection rules, which carry a message; initialization
			// and paranoia-level skips are left out.
			ids = append(ids, id)
		}
	}
	if !blocked {
		return nil
	}
	var b strings.Builder
	b.WriteString("rules")
	for i, id := range ids {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(id))
	}
	if it != nil && it.RuleID != 0 && !slices.Contains(ids, it.RuleID) && it.RuleID != ruleInboundBlock {
		fmt.Fprintf(&b, " (interrupted by %d)", it.RuleID)
	}
	fmt.Fprintf(&b, " reached anomaly threshold %d at paranoia %d", w.opts.AnomalyThreshold, w.opts.Paranoia)
	v := violation(ReasonWAF, http.StatusForbidden, b.String())
	v.ReportOnly = w.opts.DetectionOnly
	return v
}

func splitHostPort(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// wafs compiles each distinct option set once.
type wafs struct {
	mu    sync.Mutex
	byKey map[string]*WAF
	known map[int]bool
}

func (c *wafs) get(o WAFOptions) (*WAF, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.byKey[o.key()]; w != nil {
		return w, nil
	}
	if c.known == nil {
		if c.known, err = crsRuleIDs(); err != nil {
			return nil, err
		}
	}
	w, err := newWAF(o, c.known)
	if err != nil {
		return nil, err
	}
	if c.byKey == nil {
		c.byKey = make(map[string]*WAF)
	}
	c.byKey[o.key()] = w
	return w, nil
}
