package introspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/principal"
)

const (
	testIss      = "https://idp.test"
	testClientID = "gateway client" // a space: form-encoded as '+'
	// testSecret has characters that form encoding changes, so a provider
	// that decodes as RFC 6749 says only matches if the client encoded.
	testSecret = "s3cr:t/+%é?&=Zq9"
	testAud    = "api"
)

// fakeIdP is an RFC 7662 endpoint on 127.0.0.1. It checks that every
// request is the one RFC 7662 and RFC 6749 §2.3.1 describe, counts them, and
// answers from a table of token → JSON.
type fakeIdP struct {
	t     testing.TB
	srv   *httptest.Server
	calls atomic.Int64

	mu       sync.Mutex
	answers  map[string]string
	holds    map[string]chan struct{}
	override func(w http.ResponseWriter, r *http.Request, token string) bool
	problems []string
}

func newFakeIdP(t testing.TB) *fakeIdP {
	t.Helper()
	idp := &fakeIdP{t: t, answers: map[string]string{}, holds: map[string]chan struct{}{}}
	idp.srv = httptest.NewServer(http.HandlerFunc(idp.serve))
	t.Cleanup(func() {
		idp.mu.Lock()
		for _, ch := range idp.holds {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		problems := idp.problems
		idp.mu.Unlock()
		idp.srv.Close()
		for _, p := range problems {
			t.Errorf("fake IdP: %s", p)
		}
	})
	return idp
}

func (idp *fakeIdP) serve(w http.ResponseWriter, r *http.Request) {
	idp.calls.Add(1)
	problem := idp.check(r)
	token := r.PostForm.Get("token")
	idp.mu.Lock()
	if problem != "" {
		idp.problems = append(idp.problems, problem)
	}
	override := idp.override
	answer, ok := idp.answers[token]
	hold := idp.holds[token]
	idp.mu.Unlock()
	if problem != "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if hold != nil {
		// The answer was read on the way in: what the provider would have
		// said at the moment it was asked.
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if override != nil && override(w, r, token) {
		return
	}
	if !ok {
		answer = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, answer)
}

// check returns what is wrong with an introspection request, or "".
func (idp *fakeIdP) check(r *http.Request) string {
	if r.Method != http.MethodPost {
		return "method " + r.Method
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		return "content type " + ct
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		return "accept " + a
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "no basic auth"
	}
	// RFC 6749 §2.3.1: the provider form-decodes both halves.
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || id != testClientID || secret != testSecret {
		return "basic auth does not carry the form-encoded client id and secret"
	}
	if err := r.ParseForm(); err != nil {
		return "form: " + err.Error()
	}
	if len(r.URL.RawQuery) > 0 {
		return "query string " + r.URL.RawQuery
	}
	f := r.PostForm
	if len(f) != 2 || len(f["token"]) != 1 || f.Get("token_type_hint") != "access_token" {
		return "form fields " + strings.Join(keys(f), ",")
	}
	return ""
}

func keys(f url.Values) []string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	return out
}

// set makes the IdP answer token with v (marshalled to JSON unless a string).
func (idp *fakeIdP) set(token string, v any) {
	idp.t.Helper()
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			idp.t.Fatal(err)
		}
		s = string(b)
	}
	idp.mu.Lock()
	idp.answers[token] = s
	idp.mu.Unlock()
}

// hold makes requests for token wait until the returned func is called.
func (idp *fakeIdP) hold(token string) (release func()) {
	ch := make(chan struct{})
	idp.mu.Lock()
	idp.holds[token] = ch
	idp.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (idp *fakeIdP) setOverride(f func(w http.ResponseWriter, r *http.Request, token string) bool) {
	idp.mu.Lock()
	idp.override = f
	idp.mu.Unlock()
}

// clock is a settable time for the client.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// recorder collects the client's events and log lines.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
	logs   bytes.Buffer
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *recorder) snapshot() ([]event.Event, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...), r.logs.String()
}

type harness struct {
	c   *Client
	idp *fakeIdP
	clk *clock
	rec *recorder
}

// newHarness makes a client of a fresh fake IdP; mod adjusts the config.
func newHarness(t testing.TB, mod func(*Config, *Options)) *harness {
	t.Helper()
	h := &harness{idp: newFakeIdP(t), clk: newClock(), rec: &recorder{}}
	cfg := Config{
		Name:         "idp",
		Issuer:       testIss,
		Endpoint:     h.idp.srv.URL + "/oauth2/introspect",
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Audiences:    []string{testAud},
	}
	o := Options{Events: h.rec, Log: slog.New(slog.NewTextHandler(h.rec, &slog.HandlerOptions{Level: slog.LevelDebug})), now: h.clk.now}
	if mod != nil {
		mod(&cfg, &o)
	}
	c, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return h
}

// activeAt is an honest answer for sub at now: valid for an hour.
func activeAt(now time.Time, sub string) map[string]any {
	return map[string]any{
		"active":     true,
		"sub":        sub,
		"client_id":  "web-app",
		"iss":        testIss,
		"aud":        []any{testAud, "other"},
		"scope":      "read write",
		"roles":      []any{"admin", "ops"},
		"token_type": "Bearer",
		"exp":        now.Add(time.Hour).Unix(),
		"iat":        now.Unix(),
	}
}

// with returns a copy of m with changes applied; a nil value deletes.
func with(m map[string]any, changes map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// reasonOf returns the *authn.Error reason of err, failing when err is not one.
func reasonOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	ae, ok := errors.AsType[*authn.Error](err)
	if !ok {
		t.Fatalf("error %T %v is not *authn.Error", err, err)
	}
	if ae.Code != "invalid_token" && ae.Code != "invalid_request" {
		t.Fatalf("error code %q", ae.Code)
	}
	return ae.Reason
}

func (h *harness) introspect(t testing.TB, token string, scopes ...string) (*principal.Principal, error) {
	t.Helper()
	return h.c.Introspect(context.Background(), token, scopes)
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
