package respcache

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Defaults for MemoryOptions.
const (
	DefaultMemoryEntries = 10000
	DefaultMemoryBytes   = 64 << 20
)

// MemoryOptions bound a Memory store.
type MemoryOptions struct {
	// MaxEntries bounds the entries kept (DefaultMemoryEntries when 0).
	MaxEntries int
	// MaxBytes bounds their approximate size (DefaultMemoryBytes when 0).
	MaxBytes int64
}

// Memory is an in-process Store bounded by entries and bytes; when full it
// drops the least recently used entries. It is safe for concurrent use.
// Expired entries are not swept: the cache never serves them, a new answer
// replaces them, and the bounds hold either way.
type Memory struct {
	maxEntries int
	maxBytes   int64

	mu        sync.Mutex
	m         map[string]*node
	lru       node // sentinel: lru.next is the most recent, lru.prev the least
	bytes     int64
	evictions uint64
}

type node struct {
	key        string
	e          *Entry
	size       int64
	prev, next *node
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(o MemoryOptions) (*Memory, error) {
	if o.MaxEntries < 0 || o.MaxBytes < 0 {
		return nil, fmt.Errorf("new memory cache store: bounds must not be negative (entries %d, bytes %d)", o.MaxEntries, o.MaxBytes)
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMemoryEntries
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMemoryBytes
	}
	m := &Memory{maxEntries: o.MaxEntries, maxBytes: o.MaxBytes, m: make(map[string]*node)}
	m.lru.next, m.lru.prev = &m.lru, &m.lru
	return m, nil
}

// Get returns the entry under key, or nil, and marks it recently used.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.m[key]
	if n == nil {
		return nil, nil
	}
	m.unlink(n)
	m.pushFront(n)
	return n.e, nil
}

// Set keeps e under key, dropping the least recently used entries to stay
// within the bounds. An entry larger than MaxBytes is refused with ErrTooLarge.
func (m *Memory) Set(_ context.Context, key string, e *Entry, _ time.Duration) error {
	size := e.size()
	if size > m.maxBytes {
		return fmt.Errorf("memory cache store: entry of %d bytes, limit %d: %w", size, m.maxBytes, ErrTooLarge)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.m[key]; n != nil {
		m.bytes += size - n.size
		n.e, n.size = e, size
		m.unlink(n)
		m.pushFront(n)
	} else {
		n = &node{key: key, e: e, size: size}
		m.m[key] = n
		m.bytes += size
		m.pushFront(n)
	}
	for len(m.m) > m.maxEntries || m.bytes > m.maxBytes {
		old := m.lru.prev
		m.unlink(old)
		delete(m.m, old.key)
		m.bytes -= old.size
		m.evictions++
	}
	return nil
}

// Len reports the entries kept, their approximate size in bytes, and how
// many entries were dropped to stay within the bounds.
func (m *Memory) Len() (entries int, bytes int64, evictions uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m), m.bytes, m.evictions
}

func (m *Memory) unlink(n *node) {
	n.prev.next, n.next.prev = n.next, n.prev
}

func (m *Memory) pushFront(n *node) {
	n.prev, n.next = &m.lru, m.lru.next
	m.lru.next.prev = n
	m.lru.next = n
}
