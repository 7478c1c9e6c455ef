package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip/siptest"
	"github.com/palio-voip/palio/store/storetest"
)

// TestClusterFraud: two nodes on one MariaDB database (polled every 30 s)
// and one NATS server, one fraud rule for 00044…: at most 2 calls at once
// and 3 a minute (critical, blocking). A caller spreading calls over the
// nodes trips it as on one node: each node's figures count the other's
// calls (guard.FollowCalls over the cluster's dialog events). The node
// that refuses the call blocks the caller, and the other node enforces the
// block within a second (guard.Share), well before its next store poll.
func TestClusterFraud(t *testing.T) {
	nats := natsURL(t)
	dsn := storetest.MySQLDSN(t)
	name := "t" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	var nodes []*example
	for i := range 2 {
		cfg := fmt.Sprintf("[store]\nmysql = %q\npoll = \"30s\"\n[log]\nlevel = \"warn\"\ncalls = false\n"+
			"[routing]\nprobe_interval = \"0s\"\n"+
			"[cluster]\nnode = \"node-%d\"\nnats = %q\nname = %q\n[media]\npolicy = \"never\"\n[mediabox]\nenabled = false\n",
			dsn, i+1, nats, name)
		var e *example
		if i == 0 {
			e = newExample(t, cfg)
		} else {
			e = newBareExample(t, cfg)
		}
		nodes = append(nodes, e)
	}
	n1, n2 := nodes[0], nodes[1]
	n1.gateways(nil)
	for _, args := range [][]string{{"-prefix", "00044", "-concurrent", "-/3"}, {"-prefix", "0057", "-cpm", "-/4"}} {
		if out := n1.cli(0, append([]string{"guard", "rule", "set"}, args...)...); !strings.HasPrefix(out, "added rule ") {
			t.Fatalf("guard rule set %v: %q", args, out)
		}
	}
	for _, e := range nodes {
		e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
		e.start()
	}
	for _, e := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.metrics(), "\npalio_cluster_nodes 1\n") {
			if time.Now().After(deadline) {
				t.Fatalf("the nodes never heard each other:\n%s", tail(e.stderr.String(), 20))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx := ctxT(t, 60*time.Second)
	seq := 0
	// call places a call of user through e to number (prefix followed by
	// a number of its own) and returns its final status; keep leaves an
	// answered call up.
	call := func(user string, e *example, prefix string, keep bool) int {
		t.Helper()
		seq++
		ua := siptest.NewUA(t, siptest.WithUser(user), siptest.WithProxy(e.addr), siptest.WithCredentials(user, "unisi"+user))
		number := fmt.Sprintf("%s%06d", prefix, seq)
		c, err := ua.Invite(ctx, "sip:"+number+"@"+e.addr)
		code := finalCode(t, c, err)
		if code == 200 && !keep {
			c.Bye(ctx)
		}
		return code
	}
	tests := []struct {
		name   string
		user   string
		prefix string // the rule's, with the numbers' next digits
		keep   bool   // calls stay up (concurrent), or end at once (per minute)
		nodes  []*example
		param  string
	}{
		// Each node alone sees at most 2 of the caller's calls.
		{"concurrent calls", "5002", "000442079", true, []*example{n1, n2, n1}, "concurrent-calls"},
		{"calls per minute", "5004", "0057723", false, []*example{n1, n2, n1, n2}, "calls-per-minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := len(tt.nodes) - 1
			for i, e := range tt.nodes[:last] {
				if code := call(tt.user, e, tt.prefix, tt.keep); code != 200 {
					t.Fatalf("call %d of %s through %s: %d, want 200", i+1, tt.user, e.addr, code)
				}
			}
			// The other node's last event needs a moment to arrive.
			time.Sleep(50 * time.Millisecond)
			refuser := tt.nodes[last]
			if code := call(tt.user, refuser, tt.prefix, tt.keep); code != 403 {
				t.Fatalf("call %d of %s, through %s: %d, want 403 (the other node's calls counted)\n%s", last+1, tt.user, refuser.addr, code, tail(refuser.stderr.String(), 20))
			}
			blocked := time.Now()
			if want := fmt.Sprintf(`msg="guard: fraud critical" user=%s param=%s`, tt.user, tt.param); !strings.Contains(refuser.stderr.String(), want) {
				t.Errorf("no critical line %s:\n%s", want, tail(refuser.stderr.String(), 10))
			}
			other := n1
			if refuser == n1 {
				other = n2
			}
			// The block: a mobile call (no rule) through the other node
			// is refused, within a second.
			for call(tt.user, other, "03331", false) != 403 {
				if time.Since(blocked) > time.Second {
					t.Fatalf("the other node still lets %s call %v after the block", tt.user, time.Since(blocked))
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("the block decided by one node was enforced by the other %v later (a call's time included)", time.Since(blocked).Round(time.Millisecond))
			if want := fmt.Sprintf(`msg="guard: banned" user=%s kind=fraud`, tt.user); !strings.Contains(other.stderr.String(), want) {
				t.Errorf("the other node did not log the peer's block (%s):\n%s", want, tail(other.stderr.String(), 10))
			}
		})
	}
}
