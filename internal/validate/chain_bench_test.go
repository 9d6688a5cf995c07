package validate

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkChainOrderPOST(b *testing.B) {
	spec := filepath.Join(b.TempDir(), "o.yaml")
	os.WriteFile(spec, []byte(`openapi: 3.0.3
info: {title: bench orders, version: "1"}
paths:
  /{any}:
    parameters:
      - {name: any, in: path, required: true, schema: {type: string}}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [item, qty]
              properties:
                account: {type: string, pattern: "^[0-9]{1,10}$"}
                item: {type: string, maxLength: 64}
                qty: {type: integer, minimum: 1, maximum: 100}
      responses: {"200": {description: ok}}
`), 0o600)
	for _, strict := range []bool{false, true} {
		b.Run(map[bool]string{false: "lenient", true: "strict"}[strict], func(b *testing.B) {
			ch, err := NewCompiler(nil).Compile(Options{OpenAPI: &OpenAPIOptions{Spec: spec, RejectUnknownFields: strict}})
			if err != nil {
				b.Fatal(err)
			}
			body := []byte(`{"account":"42","item":"notebook","qty":2}`)
			// The request is built by hand, not parsed by httptest, so the
			// figure is the chain's own cost.
			u, _ := url.Parse("/bench")
			hdr := http.Header{"Content-Type": {"application/json"}}
			b.ReportAllocs()
			for b.Loop() {
				r := &http.Request{Method: http.MethodPost, URL: u, Header: hdr, ContentLength: int64(len(body)),
					Body: io.NopCloser(bytes.NewReader(body))}
				if v, _ := ch.Check(context.Background(), r, "/bench"); v != nil {
					b.Fatal(v)
				}
			}
		})
	}
}
