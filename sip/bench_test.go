package sip

import (
	"strconv"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// BenchmarkServeInvite measures the server's request path for one call's
// INVITE, without sockets: the edge (validation, context, writer), the mux,
// the Forwarder (branch preparation, Via, Record-Route, the dialog table)
// and the relay of a scripted 180 and 200 upstream. It is the proxy's own
// cost per call on top of sipgo's parsing and transactions.
func BenchmarkServeInvite(b *testing.B) {
	uas, _ := ParseURI("sip:5002@127.0.0.1:5090")
	s := newOfflineServer(b, &scripted{codes: []int{180, 200}}, Target{URI: uas})
	raw := parseRequest(b, inviteMsg)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := raw.Clone()
		i++
		cid := sipmsg.CallIDHeader("bench-" + strconv.Itoa(i))
		r.ReplaceHeader(&cid)
		s.handle(r, newFakeServerTx())
	}
	b.StopTimer()
	if n := s.dialogs.Len(); n < b.N {
		b.Fatalf("%d dialogs for %d calls: calls were absorbed", n, b.N)
	}
}
