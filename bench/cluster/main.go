// Command cluster checks that gateways sharing one Redis enforce a rate limit
// together: it starts several `rampart gateway` processes with the same
// config (rate_limits.store: redis), sends a burst of requests spread over
// all of them for a fixed time, and compares the requests allowed with what
// the limit permits over that time (burst + rate × elapsed).
//
// Usage:
//
//	cluster -rampart bin/rampart [-gateways 3] [-rate 500/s] [-burst 50]
//	        [-duration 10s] [-conns 24] [-redis 127.0.0.1:6379]
//
// It prints one line per gateway and the accuracy, and exits 1 when the
// allowed count is off by more than -tolerance (default 2%).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/bench/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("cluster: %v", err)
	}
}

type options struct {
	rampart, redis, rate string
	gateways, burst      int
	conns                int
	duration, timeout    time.Duration
	tolerance            float64
}

func run(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.rampart, "rampart", "bin/rampart", "the rampart binary")
	fs.StringVar(&o.redis, "redis", "127.0.0.1:6379", "the shared Redis")
	fs.StringVar(&o.rate, "rate", "500/s", "the route's rate")
	fs.IntVar(&o.gateways, "gateways", 3, "gateway processes")
	fs.IntVar(&o.burst, "burst", 50, "the route's burst")
	fs.IntVar(&o.conns, "conns", 24, "concurrent client connections, spread over the gateways")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 2m)")
	fs.DurationVar(&o.timeout, "redis-timeout", 250*time.Millisecond, "rate_limits.redis.timeout (a decision slower than this is a 503)")
	fs.Float64Var(&o.tolerance, "tolerance", 0.02, "allowed relative error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.gateways < 1 || o.gateways > 16 || o.conns < 1 || o.conns > 512 || o.duration <= 0 || o.duration > 2*time.Minute {
		return errors.New("want 1..16 gateways, 1..512 conns, a duration up to 2m")
	}
	count, unit, ok := strings.Cut(o.rate, "/")
	n, err := strconv.Atoi(count)
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute}[unit]
	if !ok || err != nil || n < 1 || per == 0 {
		return fmt.Errorf("-rate %q: want N/s or N/m", o.rate)
	}
	ratePerSec := float64(n) / per.Seconds()

	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.Close()

	dir, err := os.MkdirTemp("", "rampart-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// A fresh route name per run: its Redis keys start empty.
	route := fmt.Sprintf("cluster-%d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var addrs []string
	for i := range o.gateways {
		addr, err := startGateway(ctx, o, dir, i, route, up.Addr().String())
		if err != nil {
			return err
		}
		addrs = append(addrs, addr)
	}

	var allowed, limited, other atomic.Int64
	perGateway := make([]atomic.Int64, len(addrs))
	var firstOK, lastOK atomic.Int64
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gi := c % len(addrs)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
			url := "http://" + addrs[gi] + "/limited"
			for time.Now().Before(deadline) {
				sent := time.Now().UnixNano()
				resp, err := client.Get(url)
				if err != nil {
					other.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					allowed.Add(1)
					perGateway[gi].Add(1)
					firstOK.CompareAndSwap(0, sent)
					for {
						l := lastOK.Load()
						if sent <= l || lastOK.CompareAndSwap(l, sent) {
							break
						}
					}
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	// Allowed requests were admitted between the first and the last allowed
	// request's send times; the limit permits the burst plus the rate over
	// that span (plus the one request that starts it).
	span := time.Duration(lastOK.Load() - firstOK.Load())
	want := float64(o.burst) + ratePerSec*span.Seconds()
	got := float64(allowed.Load())
	errRel := (got - want) / want
	fmt.Printf("gateways=%d rate=%s burst=%d duration=%s conns=%d\n", o.gateways, o.rate, o.burst, took.Round(time.Millisecond), o.conns)
	for i := range addrs {
		fmt.Printf("  gateway %d allowed %d\n", i+1, perGateway[i].Load())
	}
	fmt.Printf("requests %d: allowed %d, limited %d, other %d (%.0f req/s offered)\n",
		allowed.Load()+limited.Load()+other.Load(), allowed.Load(), limited.Load(), other.Load(),
		float64(allowed.Load()+limited.Load())/took.Seconds())
	fmt.Printf("limit permits %.0f over %s; allowed %.0f: error %+.2f%%\n", want, span.Round(time.Millisecond), got, 100*errRel)
	if other.Load() > 0 {
		return fmt.Errorf("%d requests failed outright", other.Load())
	}
	if limited.Load() == 0 {
		return errors.New("no request was limited: the load did not exceed the rate, so accuracy was not tested")
	}
	if errRel > o.tolerance || errRel < -o.tolerance {
		return fmt.Errorf("allowed count off by %+.2f%%, more than ±%.0f%%", 100*errRel, 100*o.tolerance)
	}
	return nil
}

func startUpstream() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return ln, nil
}

func startGateway(ctx context.Context, o options, dir string, i int, route, upstream string) (string, error) {
	listen, err := loadgen.FreeAddr()
	if err != nil {
		return "", err
	}
	admin, err := loadgen.FreeAddr()
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`gateway:
  listen: %s
  admin: %s
  tls: {disabled: true}
log: {level: error, access: "off"}
rate_limits:
  store: redis
  redis: {addr: %q, timeout: %s}
  on_redis_error: deny
upstreams:
  app: {targets: ["http://%s"]}
routes:
  - name: %s
    match: {path: /limited}
    upstream: app
    auth: none
    rate_limit: {rate: %s, burst: %d}
`, listen, admin, o.redis, o.timeout, upstream, route, o.rate, o.burst)
	path := filepath.Join(dir, fmt.Sprintf("gateway-%d.yaml", i))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, o.rampart, "gateway", "--config", path, "--data-dir", filepath.Join(dir, fmt.Sprint("data-", i)))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start gateway %d: %w", i, err)
	}
	for range 100 {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return listen, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("gateway %d did not become ready on %s", i, admin)
}
