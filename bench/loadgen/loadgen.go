// Package loadgen holds what the Go load programs under bench/ share:
// reserving loopback ports, waiting for a listener and running keep-alive
// clients for a fixed time.
package loadgen

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// FreeAddr reserves a loopback port for a child process. The port is
// released before the child binds it; a collision makes the run fail loudly.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitTCP waits (at most 10 s) until something accepts connections on addr.
func WaitTCP(addr string) error {
	for range 200 {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// Run has conns clients (each from client()) call do for d and returns the
// successful requests per second; any failure fails the run, so a figure is
// never made of errors.
func Run(do func(*http.Client) (ok bool), client func() *http.Client, conns int, d time.Duration) (float64, error) {
	var good, bad atomic.Int64
	deadline := time.Now().Add(d)
	began := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client()
			for time.Now().Before(deadline) {
				if do(c) {
					good.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		return 0, fmt.Errorf("%d requests failed (%d succeeded)", bad.Load(), good.Load())
	}
	return float64(good.Load()) / time.Since(began).Seconds(), nil
}
