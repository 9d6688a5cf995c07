package validate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Run with: go test -run '^$' -bench . -benchmem ./internal/validate/

// reportCPU adds a cpu-ns/op metric measured from the start of the loop.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64((end-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func BenchmarkOpenAPISmallPOST(b *testing.B) {
	o := NewOpenAPI(mustSpec(b), false)
	body := []byte(`{"name":"Ada Lovelace","email":"ada@example.com","age":36,"address":{"city":"London","zip":"12345"},"tags":["a","b"]}`)
	r := httptest.NewRequest(http.MethodPost, "/v1/accounts", nil)
	r.Header.Set("Content-Type", "application/json")
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if v := o.Check(ctx, r, "/v1/accounts", body); v != nil {
			b.Fatal(v)
		}
	}
}

// jsonDoc4KiB is an honest JSON document of about 4 KiB.
func jsonDoc4KiB() []byte {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 4000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"name":"item number %d","price":%d.99,"tags":["red","blue"],"note":"select a plan that suits O'Brien"}`, i, i, i)
	}
	sb.WriteString(`],"total":1234.5}`)
	return []byte(sb.String())
}

func BenchmarkJSONLimits(b *testing.B) {
	l, err := NewLimits(LimitsOptions{JSON: &JSONLimits{}})
	if err != nil {
		b.Fatal(err)
	}
	body := jsonDoc4KiB()
	r := httptest.NewRequest(http.MethodPost, "/v1/items", nil)
	r.Header.Set("Content-Type", "application/json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if v := l.Check(r, body); v != nil {
			b.Fatal(v)
		}
	}
}

func browserLikeHeaders(r *http.Request) {
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl")
}

func BenchmarkWAFGet(b *testing.B) {
	w := mustWAF(b, WAFOptions{Paranoia: 1})
	r := httptest.NewRequest(http.MethodGet, "/v1/accounts?limit=10&sort=name&q=select+a+plan", nil)
	browserLikeHeaders(r)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if v := w.Check(r, "/v1/accounts", nil); v != nil {
			b.Fatal(v)
		}
	}
}

// jsonRecord4KiB is a 4 KiB JSON record with few, longer fields: a profile
// or a document, where jsonDoc4KiB is a list of small items. The WAF's
// cost follows the number of values (CRS runs every rule on every value
// and every key), not the bytes.
func jsonRecord4KiB() []byte {
	var sb strings.Builder
	sb.WriteString(`{"title":"Quarterly report","author":{"name":"Siobhan O'Brien","email":"siobhan@example.com"},"tags":["finance","q3"],"sections":[`)
	para := "Revenue grew in every region; we select a plan for next year that keeps costs flat and hiring steady. "
	for i := 0; sb.Len() < 3900; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"heading":"Section %d","text":"%s"}`, i, strings.Repeat(para, 4))
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

func BenchmarkWAFPost4KiB(b *testing.B) {
	w := mustWAF(b, WAFOptions{Paranoia: 1})
	for _, c := range []struct {
		name string
		body []byte
	}{{"record", jsonRecord4KiB()}, {"items", jsonDoc4KiB()}} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/v1/items", nil)
			browserLikeHeaders(r)
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = int64(len(c.body))
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if v := w.Check(r, "/v1/items", c.body); v != nil {
					b.Fatal(v)
				}
			}
		})
	}
}
