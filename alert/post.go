package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry says how an HTTP notifier retries a delivery.
type Retry struct {
	// Attempts is how many times a delivery is tried in all (default 4;
	// 1: no retry).
	Attempts int
	// Timeout bounds each attempt, connection and answer included
	// (default 5 s).
	Timeout time.Duration
	// Backoff is the wait before the first retry, doubled before each
	// next one up to MaxBackoff (defaults 1 s and 30 s). A 429's
	// Retry-After (or Telegram's retry_after) replaces it when longer,
	// within MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Second
	}
	if r.Backoff <= 0 {
		r.Backoff = time.Second
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * time.Second
	}
	return r
}

// httpError is an answer that was not a success.
type httpError struct {
	status     int
	body       string
	retry      bool          // worth another attempt: 5xx, 429
	retryAfter time.Duration // what the server asked for
}

func (e *httpError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

// check decides, from an answer, whether it is a success; when not, what
// error it is and whether to try again.
type check func(status int, header http.Header, body []byte) *httpError

// checkStatus takes any 2xx as a success, retries 5xx and 429 (after its
// Retry-After), and gives up on the rest.
func checkStatus(status int, header http.Header, body []byte) *httpError {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &httpError{status: status, body: shortBody(body), retry: status >= 500 || status == http.StatusTooManyRequests}
	if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil && s > 0 {
		e.retryAfter = time.Duration(s) * time.Second
	}
	return e
}

func shortBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// post sends body to url as JSON until an attempt succeeds, the attempts
// run out, an answer says not to retry, or ctx ends. It returns the last
// error.
func post(ctx context.Context, client *http.Client, url string, header http.Header, body []byte, r Retry, ok check) error {
	wait := r.Backoff
	var last error
	for attempt := 1; ; attempt++ {
		retryAfter, again, err := postOnce(ctx, client, url, header, body, r.Timeout, ok)
		if err == nil {
			return nil
		}
		last = err
		if !again || attempt >= r.Attempts || ctx.Err() != nil {
			break
		}
		d := max(wait, retryAfter)
		d = min(d, r.MaxBackoff)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d attempts; last: %v)", ctx.Err(), attempt, last)
		case <-t.C:
		}
		wait = min(2*wait, r.MaxBackoff)
	}
	return last
}

// postOnce makes one attempt.
func postOnce(ctx context.Context, client *http.Client, url string, header http.Header, body []byte, timeout time.Duration, ok check) (retryAfter time.Duration, again bool, err error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, true, fmt.Errorf("no answer within %v", timeout)
		}
		return 0, true, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return 0, true, err
	}
	if e := ok(res.StatusCode, res.Header, b); e != nil {
		return e.retryAfter, e.retry, e
	}
	return 0, false, nil
}
