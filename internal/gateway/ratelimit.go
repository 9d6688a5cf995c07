package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-sec/rampart/internal/authz"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/ratelimit"
	"github.com/rampart-sec/rampart/internal/router"
)

// limiters makes the routes' rate limiters from rate_limits: in memory, one
// limiter per route and limit that survives reloads (so a reload does not
// hand every client a fresh bucket), or in Redis, shared by every gateway.
type limiters struct {
	cfg    config.RateLimits
	client *redis.Client // nil for the memory store
	events event.Emitter
	log    *slog.Logger

	mu    sync.Mutex
	local map[string]*ratelimit.Local // by route name and limit
}

// newLimiters prepares the store; for Redis it makes the client (it connects
// on first use, so a Redis that is down does not stop the gateway).
func newLimiters(cfg config.RateLimits, events event.Emitter, log *slog.Logger) *limiters {
	l := &limiters{cfg: cfg, events: events, log: log, local: make(map[string]*ratelimit.Local)}
	if cfg.Store == "redis" {
		timeout := cfg.Redis.Timeout.Std()
		if timeout == 0 {
			timeout = ratelimit.DefaultRedisTimeout
		}
		l.client = redis.NewClient(&redis.Options{
			Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			// Honour the request's deadline on reads too: an abandoned
			// decision must not hold a pooled connection.
			ContextTimeoutEnabled: true,
			DialTimeout:           time.Second,
			ReadTimeout:           max(timeout, 100*time.Millisecond),
			WriteTimeout:          max(timeout, 100*time.Millisecond),
			MaxRetries:            -1, // a retry could count one request twice
		})
	}
	return l
}

// close releases the Redis client.
func (l *limiters) close() {
	if l != nil && l.client != nil {
		l.client.Close()
	}
}

// routeLimit is a route's compiled rate limit.
type routeLimit struct {
	limiter ratelimit.Limiter
	// key is "client_ip", "principal", "header" or "expr"; header is its
	// name, expr the compiled key expression.
	key, header string
	expr        *authz.Key
	// beforeAuth: limits keyed by who connects are checked before
	// authentication, so floods of bad credentials are limited too.
	beforeAuth bool
	// policy is the RateLimit-Policy header value, made once.
	policy, name string
}

// limit builds a route's limiter; nil when the route has none.
func (l *limiters) limit(route string, rc config.RateLimit) (*routeLimit, error) {
	if rc.Rate == "" {
		return nil, nil
	}
	rate, period, err := ratelimit.ParseRate(rc.Rate)
	if err != nil {
		return nil, err
	}
	lim := ratelimit.Limit{Rate: rate, Period: period, Burst: rc.Burst}
	if lim.Burst == 0 {
		lim.Burst = rate
	}
	// RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers): the quota
	// is the burst, the window the time an empty bucket takes to refill.
	window := max(1, int(math.Ceil(lim.Period.Seconds()*float64(lim.Burst)/float64(lim.Rate))))
	rl := &routeLimit{key: rc.Key, name: route, policy: fmt.Sprintf(`"%s";q=%d;w=%d`, route, lim.Burst, window)}
	switch {
	case rc.Key == "" || rc.Key == "client_ip":
		rl.key, rl.beforeAuth = "client_ip", true
	case rc.Key == "principal":
	case rc.Key == "expr":
		if rl.expr, err = authz.CompileKey(rc.Expr); err != nil {
			return nil, err
		}
		rl.beforeAuth = !rl.expr.NeedsPrincipal()
	default: // header:NAME
		rl.key, rl.header, rl.beforeAuth = "header", http.CanonicalHeaderKey(rc.Key[len("header:"):]), true
	}
	if l.client != nil {
		rl.limiter, err = ratelimit.NewRedis(route, lim, l.client, ratelimit.RedisOptions{
			FailOpen: l.cfg.OnRedisError == "allow",
			Timeout:  l.cfg.Redis.Timeout.Std(),
			OnError:  l.redisError(route),
		})
		return rl, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	id := fmt.Sprintf("%s %d/%s %d %d", route, lim.Rate, lim.Period, lim.Burst, l.cfg.MaxKeys)
	if loc := l.local[id]; loc != nil {
		rl.limiter = loc
		return rl, nil
	}
	loc, err := ratelimit.NewLocal(route, lim, ratelimit.LocalOptions{MaxKeys: l.cfg.MaxKeys})
	if err != nil {
		return nil, err
	}
	l.local[id] = loc
	rl.limiter = loc
	return rl, nil
}

// redisError reports a Redis failure: an event (counted in the metrics) and,
// at most every 10 s, a log line.
func (l *limiters) redisError(route string) func(error) {
	var mu sync.Mutex
	var last time.Time
	return func(err error) {
		choice := "denied (on_redis_error: deny)"
		sev := event.High
		if l.cfg.OnRedisError == "allow" {
			choice, sev = "allowed (on_redis_error: allow)", event.Medium
		}
		l.events.Emit(event.Event{Type: event.RateLimitStore, Severity: sev, Route: route, Reason: "redis_unavailable",
			Detail: "request " + choice})
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			l.log.Error("rate limit store (Redis) unavailable", "route", route, "requests", choice, "error", err.Error())
		}
	}
}

// rateLimit checks the route's limit for this request. It returns "" when
// the request may go on, or the code it was refused with.
func (h *Handler) rateLimit(ctx context.Context, w *recorder, r *http.Request, st *state, rl *routeLimit, params *router.Params,
	refuse func(status int, code string, typ event.Type, sev event.Severity, reason, detail string, closeConn bool) string) string {
	var key string
	switch rl.key {
	case "principal":
		p := st.principal
		// The method and issuer are part of the key: an API key named
		// "alice" is not the user alice.
		key = string(p.Method) + "|" + p.Issuer + "|" + p.Subject
	case "header":
		if v := r.Header.Get(rl.header); v != "" {
			key = "h|" + v
			break
		}
		// Without the header, count by address rather than in one bucket
		// that every such client would share (and could exhaust for all).
		key = "ip|" + st.fwd.client
	case "expr":
		var req *authz.Request
		if rl.expr.NeedsRequest() {
			req = policyRequest(r, st, params)
		}
		v, err := rl.expr.Eval(st.principal, req)
		if err != nil || v == "" {
			// A key that cannot be computed (a missing claim or header)
			// counts by address, like a missing header.
			key = "ip|" + st.fwd.client
			break
		}
		if len(v) > 128 {
			// Bounded keys: a client-chosen header must not grow the store.
			sum := sha256.Sum256([]byte(v))
			v = hex.EncodeToString(sum[:])
		}
		key = "x|" + v
	default:
		key = st.fwd.client
	}
	d, err := rl.limiter.Allow(ctx, key)
	if err != nil && ctx.Err() != nil {
		// The client went away while the store was asked: nothing to answer,
		// and not a store failure (a client that connects and hangs up in a
		// loop must not raise high-severity store events).
		return "client_closed"
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		return refuse(http.StatusServiceUnavailable, "unavailable", event.RateLimitStore, event.High, "rate_limit_store", "", false)
	}
	if d.Allowed {
		return ""
	}
	secs := int((d.RetryAfter + time.Second - 1) / time.Second)
	hdr := w.Header()
	hdr.Set("Retry-After", strconv.Itoa(secs))
	hdr.Set("RateLimit-Policy", rl.policy)
	hdr.Set("RateLimit", `"`+rl.name+`";r=`+strconv.Itoa(d.Remaining)+";t="+strconv.Itoa(secs))
	return refuse(http.StatusTooManyRequests, "rate_limited", event.RateLimited, event.Low, "rate_limit", "", false)
}
