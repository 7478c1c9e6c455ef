package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
)

// guardTestConfig is a server with low auth limits and a quick store poll
// (unbans and clears reach it within 200 ms).
const guardTestConfig = `[store]
poll = "200ms"
[log]
calls = false
[routing]
probe_interval = "0s"
[guard.auth]
ip_failures = 5
user_failures = 3
`

// quickCtx bounds one request that may go unanswered (a banned source).
func quickCtx(t *testing.T) context.Context { return ctxT(t, 700*time.Millisecond) }

// answered reports whether an OPTIONS from ua to the server is answered.
func (e *example) answered(t *testing.T, ua *siptest.UA) bool {
	t.Helper()
	res, err := ua.Options(quickCtx(t), "sip:"+e.addr)
	return err == nil && res != nil
}

// eventually retries cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bruteForce sends a REGISTER with a wrong password from ua for each of
// users, and reports how many were answered (each answer a 401: one
// authentication failure).
func (e *example) bruteForce(t *testing.T, ua *siptest.UA, users ...string) int {
	t.Helper()
	answered := 0
	for i, user := range users {
		res, err := ua.Register(quickCtx(t), e.addr, "sip:"+user+"@voip.unisi.it", "guess"+strconv.Itoa(i), 3600)
		if err == nil && res != nil {
			if res.StatusCode != 401 {
				t.Fatalf("a wrong password for %s: got %d, want 401", user, res.StatusCode)
			}
			answered++
		}
	}
	return answered
}

// TestGuardBruteForce: a password guesser over real sockets. From
// 127.0.0.2, the fifth failure within a minute (wrong passwords, unknown
// users) bans the address:
// from then on nothing it sends is answered, while phones on 127.0.0.1
// register and are answered; the ban is one log line, listed by `guard
// list`, and `guard unban` lifts it on the running server. Three wrong
// passwords for 5004 from three addresses lock the account: its own right
// password is refused (403) until `guard unban 5004`.
func TestGuardBruteForce(t *testing.T) {
	e := newExample(t, guardTestConfig)
	e.start()
	attacker := siptest.NewUA(t, siptest.WithListen("127.0.0.2:0"), siptest.WithUser("scanner"))
	// A scanner: a guess each for accounts that may exist.
	if n := e.bruteForce(t, attacker, "5002", "5003", "6001", "6002", "6003", "6004", "6005", "6006"); n != 5 {
		t.Fatalf("%d of 8 guesses answered, want 5 (then banned)", n)
	}
	if e.answered(t, attacker) {
		t.Fatal("the banned address is still answered")
	}
	e.phone("5003") // a phone on 127.0.0.1 registers meanwhile
	ban := `level=WARN msg="guard: banned" src=127.0.0.2 kind=ip until=`
	if n := strings.Count(e.stderr.String(), ban); n != 1 {
		t.Errorf("the ban logged %d times, want once:\n%s", n, tail(e.stderr.String(), 20))
	}
	eventually(t, "guard list shows the ban", func() bool {
		return e.row("subject", "127.0.0.2", "guard", "list") != nil
	})
	r := e.row("subject", "127.0.0.2", "guard", "list")
	if r["kind"] != "ip" || !strings.Contains(r["reason"], "5 auth failures in 1m0s") {
		t.Errorf("guard list: %v", r)
	}
	if out := e.cli(0, "guard", "unban", "127.0.0.2"); out != "unbanned ip 127.0.0.2\n" {
		t.Errorf("guard unban: %q", out)
	}
	eventually(t, "the running server lifts the ban", func() bool { return e.answered(t, attacker) })

	t.Run("account locked", func(t *testing.T) {
		for i := 3; i <= 5; i++ {
			ua := siptest.NewUA(t, siptest.WithListen("127.0.0."+strconv.Itoa(i)+":0"), siptest.WithUser("5004"))
			if n := e.bruteForce(t, ua, "5004"); n != 1 {
				t.Fatalf("a guess from 127.0.0.%d unanswered", i)
			}
		}
		owner := siptest.NewUA(t, siptest.WithUser("5004"))
		res, err := owner.Register(ctxT(t, 5*time.Second), e.addr, "sip:5004@voip.unisi.it", "unisi5004", 3600)
		if err != nil || res.StatusCode != 403 || res.Reason != "Account Locked" {
			t.Fatalf("the right password of a locked account: %v %v, want 403 Account Locked", res, err)
		}
		e.cli(0, "guard", "unban", "5004")
		eventually(t, "the account unlocked", func() bool {
			res, err := owner.Register(ctxT(t, 5*time.Second), e.addr, "sip:5004@voip.unisi.it", "unisi5004", 3600)
			return err == nil && res.StatusCode == 200
		})
	})
	t.Run("fail2ban-regex", func(t *testing.T) {
		fail2banRegex(t, e.stderr.String())
	})
}

// fail2banRegex runs Debian's fail2ban-regex with the shipped filters over
// a real log of the server (a brute force from 127.0.0.2, then the three
// guesses against 5004): palio-auth matches every counted failure, each
// with its source address, palio-guard the address ban and nothing else.
func fail2banRegex(t *testing.T, log string) {
	t.Helper()
	bin, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		t.Skip("fail2ban-regex not installed (apt-get install fail2ban); .ci/run installs it")
	}
	path := filepath.Join(t.TempDir(), "unisi.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	failures := regexp.MustCompile(`msg="registrar: auth failed" src=(\S+) .*reason=(unknown-user|wrong-password|bad-nonce|bad-credentials) `).FindAllStringSubmatch(log, -1)
	if len(failures) < 8 {
		t.Fatalf("the log has %d counted auth failures, want at least 8", len(failures))
	}
	for _, tt := range []struct {
		filter string
		want   int
		hosts  []string
	}{
		{"palio-auth.conf", len(failures), []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}},
		{"palio-guard.conf", 1, []string{"127.0.0.2"}},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			filter, _ := filepath.Abs(filepath.Join("fail2ban", "filter.d", tt.filter))
			out, err := exec.Command(bin, "--print-all-matched", path, filter).CombinedOutput()
			if err != nil {
				t.Fatalf("fail2ban-regex: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`Lines: (\d+) lines, (\d+) ignored, (\d+) matched`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no summary in:\n%s", out)
			}
			if got, _ := strconv.Atoi(string(m[3])); got != tt.want {
				t.Errorf("%s matched %d lines, want %d:\n%s", tt.filter, got, tt.want, out)
			}
			for _, h := range tt.hosts {
				if !strings.Contains(string(out), h) {
					t.Errorf("%s found no match for %s:\n%s", tt.filter, h, out)
				}
			}
			t.Logf("%s: %s", tt.filter, m[0])
		})
	}
}

// TestGuardFraudBlock: a fraud rule's critical threshold over real calls.
// With a rule allowing one call to 00044… (a critical at the second),
// 5002's first call goes through, the second is refused and blocks 5002's
// outbound calls (a national number too), `guard list` shows the block,
// and once `guard clear 5002` the running server lets 5002 call again.
func TestGuardFraudBlock(t *testing.T) {
	e := newExample(t, guardTestConfig)
	e.gateways(nil)
	if out := e.cli(0, "guard", "rule", "set", "-prefix", "00044", "-calls", "-/2"); !strings.HasPrefix(out, "added rule 6\n") {
		t.Fatalf("guard rule set: %q", out)
	}
	e.start()
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(e.addr), siptest.WithCredentials("5002", "unisi5002"))
	ctx := ctxT(t, 20*time.Second)
	callCode := func(number string) int {
		t.Helper()
		call, err := caller.Invite(ctx, "sip:"+number+"@"+e.addr)
		code := finalCode(t, call, err)
		if code == 200 {
			call.Bye(ctx)
		}
		return code
	}
	if code := callCode("000442079460000"); code != 200 {
		t.Fatalf("the first call: %d, want 200", code)
	}
	if code := callCode("000442079460001"); code != 403 {
		t.Fatalf("the call reaching the critical: %d, want 403", code)
	}
	if code := callCode("00577232111"); code != 403 {
		t.Fatalf("a national call of the blocked caller: %d, want 403", code)
	}
	if !strings.Contains(e.stderr.String(), `level=ERROR msg="guard: fraud critical" user=5002 param=total-calls value=2 threshold=2 rule=6`) {
		t.Errorf("no critical line:\n%s", tail(e.stderr.String(), 20))
	}
	eventually(t, "guard list shows the block", func() bool { return e.row("subject", "5002", "guard", "list") != nil })
	if r := e.row("subject", "5002", "guard", "list"); r["kind"] != "fraud" || r["until"] != "cleared" {
		t.Errorf("guard list: %v", r)
	}
	if out := e.cli(0, "guard", "clear", "5002"); out != "cleared 5002: its outbound calls are allowed again\n" {
		t.Errorf("guard clear: %q", out)
	}
	eventually(t, "the running server lets 5002 call", func() bool { return callCode("00577232111") == 200 })
	if code := callCode("000442079460002"); code != 200 {
		t.Errorf("after the clear the count starts afresh: %d, want 200", code)
	}
}

// TestGuardFraudFiguresSurviveRestart: a server counts the day's calls
// from the call records at start (guard.WithHistory over acc): with a
// rule blocking at the third international call of the day, two calls,
// a restart, and the third is refused as it would have been without the
// restart.
func TestGuardFraudFiguresSurviveRestart(t *testing.T) {
	e := newExample(t, guardTestConfig)
	e.gateways(nil)
	if out := e.cli(0, "guard", "rule", "set", "-prefix", "00044", "-calls", "-/3"); !strings.HasPrefix(out, "added rule 6\n") {
		t.Fatalf("guard rule set: %q", out)
	}
	e.start()
	caller := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(e.addr), siptest.WithCredentials("5002", "unisi5002"))
	ctx := ctxT(t, 30*time.Second)
	callCode := func(number string) int {
		t.Helper()
		call, err := caller.Invite(ctx, "sip:"+number+"@"+e.addr)
		code := finalCode(t, call, err)
		if code == 200 {
			call.Bye(ctx)
		}
		return code
	}
	for i, number := range []string{"000442079460000", "000442079460001"} {
		if code := callCode(number); code != 200 {
			t.Fatalf("call %d: %d, want 200", i+1, code)
		}
	}
	e.stop() // the call records queued are written before it exits
	e.start()
	if code := callCode("000442079460002"); code != 403 {
		t.Errorf("the third call of the day, after the restart: %d, want 403", code)
	}
	if !strings.Contains(e.stderr.String(), `level=ERROR msg="guard: fraud critical" user=5002 param=total-calls value=3 threshold=3 rule=6`) {
		t.Errorf("no critical line after the restart:\n%s", tail(e.stderr.String(), 20))
	}
}
