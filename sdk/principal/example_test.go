package principal_test

import (
	"log"
	"log/slog"
	"net/http"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// A service behind the gateway admits only requests carrying the gateway's
// identity token, and reads the caller from the request's context.
func ExampleVerifier_Middleware() {
	v, err := principal.NewVerifier(principal.VerifierOptions{
		Audience: "accounts", // this service's upstream name in the gateway config
		JWKSURL:  "http://127.0.0.1:9901/identity/jwks.json",
		OnReject: func(r *http.Request, err error) {
			slog.Warn("identity token refused", "path", r.URL.Path, "error", err)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		p := principal.FromContext(r.Context()) // never nil behind the middleware
		if p.Subject != r.PathValue("id") && !p.HasRole("admin") {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Write([]byte("account " + r.PathValue("id")))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:9001", v.Middleware(mux)))
}
