// Package redistest connects tests to the real Redis the project's tests
// run against, and gives them a Redis that never answers. It is imported by
// tests only.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Connect connects to the Redis at $RAMPART_TEST_REDIS_ADDR (default
// 127.0.0.1:6379) and returns a client and a key prefix, under base, unique
// to this test; the test's keys are deleted when it ends. Without a Redis
// the test skips, or fails when CI=true.
func Connect(t testing.TB, base string) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("RAMPART_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	// A probe without retries, so that a missing Redis is reported at once.
	probe := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := probe.Ping(ctx).Err()
	probe.Close()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s not reachable (CI=true, so this fails instead of skipping): %v", addr, err)
		}
		t.Skipf("redis at %s not reachable, skipping (set RAMPART_TEST_REDIS_ADDR to run): %v", addr, err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	var b [8]byte
	rand.Read(b[:])
	prefix := base + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up keys %s*: %v", prefix, err)
		}
		c.Close()
	})
	return c, prefix
}

// Hung returns the address of a server that accepts connections and never
// answers: a Redis that is up but stuck.
func Hung(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
