package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/respcache"
)

// newResponseCache makes the response cache shared by every table (so a
// reload keeps what is stored) from response_cache. The Redis client
// connects on first use: a Redis that is down is a miss, not a failure.
func newResponseCache(cfg config.ResponseCache, events event.Emitter, log *slog.Logger) (*respcache.Cache, func(), error) {
	var store respcache.Store
	closeFn := func() {}
	switch cfg.Store {
	case "redis":
		timeout := cfg.Redis.Timeout.Std()
		if timeout == 0 {
			timeout = respcache.DefaultRedisTimeout
		}
		client := redis.NewClient(&redis.Options{
			Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			ContextTimeoutEnabled: true,
			DialTimeout:           time.Second,
			DialerRetries:         1,
			ReadTimeout:           max(timeout, 100*time.Millisecond),
			WriteTimeout:          max(timeout, 100*time.Millisecond),
			MaxRetries:            -1,
		})
		rs, err := respcache.NewRedisStore(client, respcache.RedisOptions{Timeout: timeout})
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		store, closeFn = rs, func() { client.Close() }
	default:
		m, err := respcache.NewMemory(respcache.MemoryOptions{MaxEntries: cfg.MaxEntries, MaxBytes: int64(cfg.MaxMemory)})
		if err != nil {
			return nil, nil, err
		}
		store = m
	}
	c, err := respcache.New(respcache.Options{
		Store: store,
		View:  cacheView,
		OnEvent: func(e respcache.Event) {
			sev, detail := event.Medium, e.Detail
			if e.Reason == respcache.ReasonStoreError {
				sev = event.Low
				if e.Err != nil {
					detail = e.Err.Error()
				}
				log.Warn("response cache store failed", "route", e.Route, "error", detail)
			}
			events.Emit(event.Event{Type: event.CacheRefused, Severity: sev, Route: e.Route, Reason: e.Reason, Detail: detail})
		},
	})
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return c, closeFn, nil
}

// cacheView is the request as the gateway already resolved it: the
// canonical path and the verified principal.
func cacheView(r *http.Request) (respcache.View, bool) {
	st, ok := r.Context().Value(stateKey{}).(*state)
	if !ok {
		return respcache.View{}, false
	}
	return respcache.View{Host: strings.ToLower(r.Host), Path: st.canon, Principal: respcache.PrincipalKey(st.principal)}, true
}

// cachePolicy converts a route's cache settings.
func cachePolicy(c config.Cache) (respcache.Policy, error) {
	scope, err := respcache.ParseScope(c.Scope)
	if err != nil {
		return respcache.Policy{}, err
	}
	p := respcache.Policy{TTL: c.TTL.Std(), Scope: scope, Vary: c.Vary, MaxBody: int64(c.MaxBody)}
	if err := p.Validate(); err != nil {
		return respcache.Policy{}, fmt.Errorf("cache: %w", err)
	}
	return p, nil
}

// cacheRoute puts the response cache in front of a route's proxy. Without a
// shared cache (`rampart validate`, tests) the route gets a memory one.
func cacheRoute(rc config.Route, proxy http.Handler, c *respcache.Cache) (http.Handler, error) {
	p, err := cachePolicy(rc.Cache)
	if err != nil {
		return nil, err
	}
	if c == nil {
		if c, err = respcache.New(respcache.Options{View: cacheView}); err != nil {
			return nil, err
		}
	}
	return c.Wrap(rc.Name, p, proxy)
}
