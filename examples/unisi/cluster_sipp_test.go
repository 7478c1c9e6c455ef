package main

import (
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// countingGateway is a PRI's gateway that answers every INVITE at once
// and counts the calls it has up (from its INVITE to its BYE), keeping
// the most it ever had at one time.
type countingGateway struct {
	addr string
	mu   sync.Mutex
	up   map[string]bool // by Call-ID
	max  int
	all  int
}

func newCountingGateway(t *testing.T) *countingGateway {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("arezzo-pri"),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &countingGateway{addr: pc.LocalAddr().String(), up: map[string]bool{}}
	host, p, _ := net.SplitHostPort(g.addr)
	port, _ := strconv.Atoi(p)
	srv.OnInvite(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		g.mu.Lock()
		if id := req.CallID(); id != nil && !g.up[string(*id)] {
			g.up[string(*id)] = true
			g.all++
			g.max = max(g.max, len(g.up))
		}
		g.mu.Unlock()
		sdp := []byte("v=0\r\no=pri 1 1 IN IP4 " + host + "\r\ns=-\r\nc=IN IP4 " + host + "\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n")
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", sdp)
		res.To().Params.Add("tag", sipmsg.GenerateTagN(8))
		res.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: "pri", Host: host, Port: port}})
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		_ = tx.Respond(res)
	})
	srv.OnAck(func(*sipmsg.Request, sipmsg.ServerTransaction) {})
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		g.mu.Lock()
		if id := req.CallID(); id != nil {
			delete(g.up, string(*id))
		}
		g.mu.Unlock()
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(pc)
	}()
	t.Cleanup(func() {
		pc.Close()
		ua.Close()
		<-done
	})
	return g
}

// counts returns the calls up now, the most at once and all the calls.
func (g *countingGateway) counts() (up, most, all int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.up), g.max, g.all
}

// TestClusterSIPpTrunk: three nodes sharing their trunk counts through
// Redis, one SIPp UAC per node (account 5003, 10 calls a second each, a
// second of talk) dialling Arezzo, whose PRI has 4 channels. Arezzo's
// gateway never has more than 4 calls up at once, and gets some (the
// cluster fills it); every call is answered, the rest by Siena's PRIs.
func TestClusterSIPpTrunk(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (apt-get install sip-tester); .ci/run installs it")
	}
	const perNode, rate = 40, 10
	arezzo := newCountingGateway(t)
	// The calls come from one address and one account: no flood check,
	// no fraud check (both are the guard's business, not this test's).
	node := trunkNode{extra: "[guard.flood]\nenabled = false\n[guard.fraud]\nenabled = false\n"}
	nodes, gws := newTrunkCluster(t, redisURL(t), []trunkNode{node, node, node}, arezzo.addr)
	for _, e := range nodes {
		e.start()
	}

	dir := t.TempDir()
	type uac struct {
		cmd  *exec.Cmd
		out  *syncBuffer
		stat string
	}
	var uacs []uac
	for i, e := range nodes {
		stat := "uac_stat_" + strconv.Itoa(i+1) + ".csv"
		cmd, out := startSIPp(t, dir, "uac_auth.xml", "-s", "00575200000", "-i", "127.0.0.1",
			"-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
			"-r", strconv.Itoa(rate), "-m", strconv.Itoa(perNode), "-l", "100", "-timeout", "60s", "-recv_timeout", "10000",
			"-trace_stat", "-fd", "1", "-stf", stat, e.addr)
		uacs = append(uacs, uac{cmd, out, stat})
	}
	for i, u := range uacs {
		err := u.cmd.Wait()
		csv, _ := os.ReadFile(filepath.Join(dir, u.stat))
		succ, fail := statColumn(string(csv), "SuccessfulCall(C)"), statColumn(string(csv), "FailedCall(C)")
		if err != nil || succ != strconv.Itoa(perNode) || fail != "0" {
			t.Errorf("SIPp through node %d: %v, successful=%s failed=%s\n%s\nnode:\n%s", i+1, err, succ, fail,
				tail(u.out.String(), 20), tail(nodes[i].stderr.String(), 20))
		}
	}
	up, most, all := arezzo.counts()
	onSiena := invites(gws, sienaPRIs...)
	t.Logf("%d calls through 3 nodes: %d on Arezzo's 4-channel PRI (at most %d at once, %d still up), %d INVITEs to Siena's",
		3*perNode, all, most, up, onSiena)
	if most > 4 {
		t.Errorf("Arezzo's 4-channel PRI had %d calls up at once", most)
	}
	if most < 1 || all+onSiena < 3*perNode {
		t.Errorf("Arezzo took %d calls (at most %d at once) and Siena %d: want Arezzo used and every call placed", all, most, onSiena)
	}
	if up != 0 {
		t.Errorf("%d calls still up on Arezzo's PRI after SIPp hung up all of them", up)
	}
}
