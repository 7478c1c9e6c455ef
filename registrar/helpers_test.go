package registrar_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

const domain = "voip.unisi.it"

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a registrar over a memory store with the UniSI demo accounts
// 5001 and 5002 (password "secret"), 5003 (blocked) and 5004 (plaintext
// only).
type env struct {
	reg   *registrar.Registrar
	store *registrar.MemStore
	clock *clock
	logs  *logBuffer
}

func newEnv(t testing.TB, cfg registrar.Config, opts ...registrar.Option) *env {
	t.Helper()
	e := &env{store: registrar.NewMemStore(), clock: newClock(), logs: &logBuffer{}}
	ctx := context.Background()
	for _, u := range []string{"5001", "5002"} {
		if err := e.store.AddSubscriber(ctx, registrar.NewSubscriber(u, domain, "secret")); err != nil {
			t.Fatal(err)
		}
	}
	blocked := registrar.NewSubscriber("5003", domain, "secret")
	blocked.Blocked = true
	plain := registrar.Subscriber{Username: "5004", Domain: domain, Password: "plain"}
	for _, s := range []registrar.Subscriber{blocked, plain} {
		if err := e.store.AddSubscriber(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts = append([]registrar.Option{registrar.WithClock(e.clock.Now), registrar.WithLogger(log)}, opts...)
	reg, err := registrar.New(cfg, e.store, e.store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	e.reg = reg
	return e
}

// request parses a request from its start line and headers, adding a
// Content-Length, and marks it as received over UDP from src.
func request(t testing.TB, src, start string, headers ...string) *sip.Request {
	t.Helper()
	raw := start + "\r\n" + strings.Join(headers, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	msg, err := sipmsg.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("not a request: %q", raw)
	}
	req.SetSource(src)
	req.SetTransport("UDP")
	return req
}

// registerReq builds a REGISTER for user@voip.unisi.it with Call-ID
// callID and CSeq cseq, sent from 10.0.0.5:5060, with extra headers
// (Contact, Expires...).
func registerReq(t testing.TB, user, callID string, cseq int, headers ...string) *sip.Request {
	t.Helper()
	hs := []string{
		"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK" + sipmsg.GenerateTagN(12),
		"Max-Forwards: 70",
		"From: <sip:" + user + "@" + domain + ">;tag=" + sipmsg.GenerateTagN(8),
		"To: <sip:" + user + "@" + domain + ">",
		"Call-ID: " + callID,
		fmt.Sprintf("CSeq: %d REGISTER", cseq),
	}
	return request(t, "10.0.0.5:5060", "REGISTER sip:"+domain+" SIP/2.0", append(hs, headers...)...)
}

// inviteReq builds an INVITE from user to sip:to@voip.unisi.it.
func inviteReq(t testing.TB, from, to string, headers ...string) *sip.Request {
	t.Helper()
	hs := []string{
		"Via: SIP/2.0/UDP 10.0.0.6:5060;branch=z9hG4bK" + sipmsg.GenerateTagN(12),
		"Max-Forwards: 70",
		"From: <sip:" + from + "@" + domain + ">;tag=" + sipmsg.GenerateTagN(8),
		"To: <sip:" + to + "@" + domain + ">",
		"Call-ID: " + sipmsg.GenerateTagN(16),
		"CSeq: 1 INVITE",
		"Contact: <sip:" + from + "@10.0.0.6:5060>",
	}
	return request(t, "10.0.0.6:5060", "INVITE sip:"+to+"@"+domain+" SIP/2.0", append(hs, headers...)...)
}

// phone is the client side of digest authentication as a phone does it:
// it answers the first challenge, then reuses the nonce with a growing
// nonce count (preemptive authentication), and fetches a new nonce when
// told it is stale.
type phone struct {
	t         testing.TB
	h         sip.Handler
	user, pw  string
	algorithm string // the challenge to answer; empty: the first offered
	chal      *digest.Challenge
	nc        int
	// last is the Authorization value of the last attempt.
	last string
}

func newPhone(t testing.TB, h sip.Handler, user, pw string) *phone {
	return &phone{t: t, h: h, user: user, pw: pw}
}

// challengeOf returns the challenge of an outcome (a 401/407 StatusError)
// for algorithm ("" for the first one), or nil.
func challengeOf(err error, algorithm string) *digest.Challenge {
	se, ok := sip.AsStatus(err)
	if !ok || se.Response == nil || (se.Code != 401 && se.Code != 407) {
		return nil
	}
	name := "WWW-Authenticate"
	if se.Code == 407 {
		name = "Proxy-Authenticate"
	}
	for _, h := range se.Response.GetHeaders(name) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		if algorithm == "" || strings.EqualFold(c.Algorithm, algorithm) {
			return c
		}
	}
	return nil
}

// credentials returns the credentials for req under p's current challenge.
func (p *phone) credentials(req *sip.Request) string {
	p.nc++
	cred, err := digest.Digest(p.chal, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.Addr(),
		Username: p.user,
		Password: p.pw,
		Count:    p.nc,
	})
	if err != nil {
		p.t.Fatalf("digest: %v", err)
	}
	return cred.String()
}

// send serves req through p.h, authenticating as needed, and returns the
// recorder and outcome of the last attempt.
func (p *phone) send(req *sip.Request) (*siptest.Recorder, error) {
	p.t.Helper()
	ctx := context.Background()
	header := "Authorization"
	if req.Method != sip.REGISTER {
		header = "Proxy-Authorization"
	}
	var rec *siptest.Recorder
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if p.chal != nil {
			if p.last != "" {
				// Drop our previous credentials, keep anybody else's.
				var keep []sip.Header
				for _, h := range req.GetHeaders(header) {
					if h.Value() != p.last {
						keep = append(keep, h)
					}
				}
				for req.RemoveHeader(header) {
				}
				for _, h := range keep {
					req.AppendHeader(h)
				}
			}
			p.last = p.credentials(req)
			req.AppendHeader(sipmsg.NewHeader(header, p.last))
		}
		rec, err = siptest.Serve(ctx, p.h, req)
		c := challengeOf(err, p.algorithm)
		if c == nil {
			return rec, err
		}
		if p.chal != nil && !c.Stale {
			return rec, err // a real refusal
		}
		p.chal, p.nc = c, 0
	}
	return rec, err
}

// contacts returns the Contact values of the 200 in rec.
func contacts(rec *siptest.Recorder) []string {
	var out []string
	for _, res := range rec.Responses() {
		if res.StatusCode == 200 {
			for _, h := range res.GetHeaders("Contact") {
				out = append(out, h.Value())
			}
		}
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
