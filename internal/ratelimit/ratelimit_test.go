package ratelimit

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in      string
		rate    int
		period  time.Duration
		wantErr string
	}{
		{in: "100/m", rate: 100, period: time.Minute},
		{in: "10/s", rate: 10, period: time.Second},
		{in: "5000/h", rate: 5000, period: time.Hour},
		{in: "1/d", rate: 1, period: 24 * time.Hour},
		{in: "1000000000/s", rate: 1_000_000_000, period: time.Second},
		{in: "", wantErr: "want <count>/<unit>"},
		{in: "100", wantErr: "want <count>/<unit>"},
		{in: "0/s", wantErr: "at least 1"},
		{in: "-1/m", wantErr: "positive integer"},
		{in: "+1/m", wantErr: "positive integer"},
		{in: " 1/m", wantErr: "positive integer"},
		{in: "/m", wantErr: "positive integer"},
		{in: "1.5/m", wantErr: "positive integer"},
		{in: "10/x", wantErr: "unit must be"},
		{in: "10/", wantErr: "unit must be"},
		{in: "10/M", wantErr: "unit must be"},
		{in: "10/1m", wantErr: "unit must be"},
		{in: "1e9/s", wantErr: "positive integer"},
		{in: "1000000001/s", wantErr: "more than one per nanosecond"},
		{in: "99999999999999999999/s", wantErr: "too large"},
	} {
		rate, period, err := ParseRate(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseRate(%q) = %d, %v, %v; want error containing %q", tc.in, rate, period, err, tc.wantErr)
			}
			continue
		}
		if err != nil || rate != tc.rate || period != tc.period {
			t.Errorf("ParseRate(%q) = %d, %v, %v; want %d, %v", tc.in, rate, period, err, tc.rate, tc.period)
		}
	}
}

func TestLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		l       Limit
		wantErr string
	}{
		{l: Limit{Rate: 100, Period: time.Minute, Burst: 20}},
		{l: Limit{Rate: 1, Period: 24 * time.Hour, Burst: 30}},
		{l: Limit{Rate: 0, Period: time.Minute, Burst: 1}, wantErr: "rate must be at least 1"},
		{l: Limit{Rate: 1, Period: 0, Burst: 1}, wantErr: "period must be positive"},
		{l: Limit{Rate: 1, Period: -time.Second, Burst: 1}, wantErr: "period must be positive"},
		{l: Limit{Rate: 1, Period: time.Second, Burst: 0}, wantErr: "burst must be at least 1"},
		{l: Limit{Rate: 2, Period: time.Nanosecond, Burst: 1}, wantErr: "more than one per nanosecond"},
		{l: Limit{Rate: 1, Period: 24 * time.Hour, Burst: 31}, wantErr: "to refill"},
		{l: Limit{Rate: 1, Period: time.Second, Burst: 1 << 62}, wantErr: "to refill"},
	} {
		err := tc.l.Validate()
		if tc.wantErr == "" && err != nil {
			t.Errorf("%+v: Validate() = %v, want nil", tc.l, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: Validate() = %v, want error containing %q", tc.l, err, tc.wantErr)
		}
	}
}

func TestPolicyNames(t *testing.T) {
	l := Limit{Rate: 1, Period: time.Second, Burst: 1}
	for _, p := range []string{"", "a:b"} {
		if _, err := NewLocal(p, l, LocalOptions{}); err == nil {
			t.Errorf("NewLocal(%q) succeeded; want an error", p)
		}
	}
	if _, err := NewLocal("read-account", l, LocalOptions{}); err != nil {
		t.Errorf("NewLocal(read-account) = %v", err)
	}
}

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct {
	base time.Time
	off  atomic.Int64
}

func newFakeClock() *fakeClock {
	return &fakeClock{base: time.Unix(1_700_000_000, 123_456_789)}
}

func (c *fakeClock) now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) set(d time.Duration)     { c.off.Store(int64(d)) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// step is one request of a sequence: at this time since the start, for this
// key, the limiter must decide want.
type step struct {
	at   time.Duration
	key  string
	want Decision
}

type sequence struct {
	name  string
	limit Limit
	steps []step
}

func allow(rem int, reset time.Duration) Decision {
	return Decision{Allowed: true, Remaining: rem, ResetAfter: reset}
}

func deny(retry, reset time.Duration) Decision {
	return Decision{RetryAfter: retry, ResetAfter: reset}
}

// sequences are run against Local and Redis alike: both must give exactly
// these decisions. Periods are long so that the Redis keys (whose expiry is
// on the server's real clock) outlive the test.
func sequences() []sequence {
	const s = time.Second
	long := strings.Repeat("k", 100) // hashed: longer than maxKeyLen
	e := 60 * s / 7                  // 8571428571 ns: the integer division truncates
	return []sequence{
		{
			name:  "10/m burst 3",
			limit: Limit{Rate: 10, Period: time.Minute, Burst: 3},
			steps: []step{
				{0, "a", allow(2, 6*s)},
				{0, "a", allow(1, 12*s)},
				{0, "a", allow(0, 18*s)},
				{0, "a", deny(6*s, 18*s)},
				{0, "b", allow(2, 6*s)}, // keys are independent
				{0, long, allow(2, 6*s)},
				{0, long + "x", allow(2, 6*s)},
				{3 * s, "a", deny(3*s, 15*s)},
				{6*s - 1, "a", deny(1, 12*s+1)},
				{6 * s, "a", allow(0, 18*s)},
				{6 * s, "a", deny(6*s, 18*s)},
				{7 * s, long, allow(2, 6*s)}, // refilled: 7 s after one request
				{7 * s, long, allow(1, 12*s)},
				{15 * s, "a", allow(0, 15*s)}, // TAT was 24 s: 1.5 requests of credit, 0.5 left
				{15 * s, "a", deny(3*s, 15*s)},
				{time.Minute, "a", allow(2, 6*s)},
				{time.Minute, "b", allow(2, 6*s)},
			},
		},
		{
			name:  "7/m burst 2",
			limit: Limit{Rate: 7, Period: time.Minute, Burst: 2},
			steps: []step{
				{0, "k", allow(1, e)},
				{0, "k", allow(0, 2*e)},
				{1, "k", deny(e-1, 2*e-1)},
				{e, "k", allow(0, 2*e)},
				{time.Minute, "k", allow(1, e)},
			},
		},
	}
}
