package token

import (
	"sync"
	"time"
)

// throttle counts failed logins per account and per client address in
// fixed windows. It holds at most max keys: when full it drops expired
// windows, then the oldest, so a flood of new addresses cannot grow it.
type throttle struct {
	perUser, perIP int
	window         time.Duration
	max            int
	mu             sync.Mutex
	m              map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newThrottle(perUser, perIP int, window time.Duration, max int) *throttle {
	return &throttle{perUser: perUser, perIP: perIP, window: window, max: max, m: make(map[string]*failWindow)}
}

// allowed reports whether a login for user from ip may be tried now, and
// which key refused it ("" when allowed).
func (t *throttle) allowed(user, ip string, now time.Time) (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.m["u:"+user]; w != nil && now.Sub(w.start) < t.window && w.n >= t.perUser {
		return false, "account"
	}
	if w := t.m["ip:"+ip]; w != nil && now.Sub(w.start) < t.window && w.n >= t.perIP {
		return false, "address"
	}
	return true, ""
}

// failed counts a failed login.
func (t *throttle) failed(user, ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range []string{"u:" + user, "ip:" + ip} {
		w := t.m[k]
		if w == nil || now.Sub(w.start) >= t.window {
			if w == nil && len(t.m) >= t.max {
				t.evict(now)
			}
			w = &failWindow{start: now}
			t.m[k] = w
		}
		w.n++
	}
}

// succeeded forgets the account's failures (not the address's: one
// address trying many accounts keeps counting).
func (t *throttle) succeeded(user string) {
	t.mu.Lock()
	delete(t.m, "u:"+user)
	t.mu.Unlock()
}

func (t *throttle) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, w := range t.m {
		if now.Sub(w.start) >= t.window {
			delete(t.m, k)
			continue
		}
		if oldest == "" || w.start.Before(oldestAt) {
			oldest, oldestAt = k, w.start
		}
	}
	if len(t.m) >= t.max {
		delete(t.m, oldest)
	}
}
