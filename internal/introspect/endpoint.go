package introspect

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// checkEndpoint accepts https URLs, and http only to a loopback address:
// the token and the client secret cross this connection. Its errors never
// quote the URL, which could hold credentials.
func checkEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("is not an http(s) URL")
	}
	if u.User != nil {
		return nil, errors.New("must not contain user info (credentials in URLs end up in logs): use client_id and client_secret")
	}
	if u.Scheme == "http" {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, errors.New("must use https (tokens and the client secret would cross the network in clear); http is allowed only to a loopback address")
		}
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// newHTTPClient is the client for the endpoint: a timeout always, and no
// redirects (a redirect could take the token and the client secret to a
// host, or a scheme, that the configuration never named).
func newHTTPClient(base *http.Client) *http.Client {
	c := &http.Client{Timeout: DefaultTimeout}
	if base != nil {
		*c = *base
		if c.Timeout <= 0 {
			c.Timeout = DefaultTimeout
		}
	} else {
		// Built here rather than cloned from http.DefaultTransport, which
		// any package may replace; Proxy is nil: never $HTTPS_PROXY.
		c.Transport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: DefaultTimeout,
			IdleConnTimeout:     90 * time.Second,
			// Cache misses are calls to the provider: keep connections for
			// bursts, and bound them so that a flood of unknown tokens
			// queues here instead of overwhelming the provider.
			MaxIdleConnsPerHost: 64,
			MaxConnsPerHost:     64,
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed: configure the final introspection endpoint")
	}
	return c
}

// post asks the endpoint about token and returns the response body: a 200
// with a JSON media type, at most MaxResponseSize bytes. Errors name neither
// the token nor the URL, and never quote the body (a provider may echo the
// token in an error page).
func (c *Client) post(ctx context.Context, token string) ([]byte, error) {
	form := "token=" + url.QueryEscape(token) + "&token_type_hint=access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form))
	if err != nil {
		return nil, fmt.Errorf("build introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", *c.authz)
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error quotes the URL; what went wrong is inside it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("call introspection endpoint: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseSize))
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = " (check client_id and client_secret)"
		}
		return nil, fmt.Errorf("introspection endpoint answered status %d%s", resp.StatusCode, hint)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, fmt.Errorf("introspection endpoint answered content type %.64q, not JSON", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("read introspection response: %w", err)
	}
	if len(b) > MaxResponseSize {
		return nil, fmt.Errorf("introspection response is larger than %d bytes", MaxResponseSize)
	}
	return b, nil
}
