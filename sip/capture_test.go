package sip_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// hepCall is what one captured call is checked against.
type hepCall struct {
	callID         string
	start, end     time.Time
	network        string // the caller's transport to the proxy
	calleeNet      string // the proxy's transport to the callee
	caller, proxy  netip.AddrPort
	callee, proxyU netip.AddrPort
}

// hepWant is one message the capture must hold: its summary, and who sent
// it to whom.
type hepWant struct {
	summary  string
	from, to string // "caller", "proxy", "callee"
}

// A call through the proxy, as the proxy sees it: each request and
// response once in and once out.
var hepCallMessages = []hepWant{
	{"INVITE", "caller", "proxy"}, {"INVITE", "proxy", "callee"},
	{"180 INVITE", "callee", "proxy"}, {"180 INVITE", "proxy", "caller"},
	{"200 INVITE", "callee", "proxy"}, {"200 INVITE", "proxy", "caller"},
	{"ACK", "caller", "proxy"}, {"ACK", "proxy", "callee"},
	{"BYE", "caller", "proxy"}, {"BYE", "proxy", "callee"},
	{"200 BYE", "callee", "proxy"}, {"200 BYE", "proxy", "caller"},
}

// hepLeg is how a captured call's legs go: the caller's transport to the
// proxy, the proxy's to the callee (a connection the proxy dials itself
// for tcp and tls: a TLS gateway, addressed by IP, with the proxy's
// TLS configuration), the callee addressed by a name (a fake DNS) when
// byName, and the collector's transport.
type hepLeg struct {
	name, caller, callee, collector string
	byName                          bool
}

// TestHEPCapture places real calls through a proxy capturing to an
// in-process collector: over UDP and over TCP (the caller's leg and the
// collector's), and to a TCP callee and a TLS gateway the proxy dials
// itself, and checks that every message of the call is there, on both
// legs, and every chunk of every packet: family, protocol, the addresses
// and ports of each hop, the time, the SIP type, the capture id, the
// authentication key, the node name, the Call-ID as correlation id and
// the payload, one whole SIP message.
func TestHEPCapture(t *testing.T) {
	for _, leg := range []hepLeg{
		{name: "udp", caller: "udp", callee: "udp", collector: "udp"},
		{name: "tcp", caller: "tcp", callee: "udp", collector: "tcp"},
		{name: "tcp callee", caller: "udp", callee: "tcp", collector: "udp"},
		{name: "tcp callee by name", caller: "udp", callee: "tcp", collector: "udp", byName: true},
		{name: "tls gateway", caller: "tcp", callee: "tls", collector: "udp"},
	} {
		t.Run(leg.name, func(t *testing.T) {
			leakCheck(t)
			coll := newHEPCollector(t, leg.collector)
			reg := prometheus.NewRegistry()
			hc, err := sip.NewHEPClient(sip.HEPConfig{Addr: coll.addr, Network: leg.collector, CaptureID: 2001, AuthKey: "s3cret", NodeName: "siena-1"},
				sip.WithHEPLogger(testLogger()), sip.WithHEPRegisterer(reg))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hc.Close() })
			call := captureCallLegs(t, leg, hc)
			ps := coll.wait(func(ps []sip.HEPPacket) bool { return len(matchCall(ps, call)) == 0 })
			checked := 0
			for _, p := range ps {
				if string(p.CorrelationID) != call.callID {
					continue
				}
				checkHEPFields(t, p, call)
				checked++
			}
			t.Logf("%d packets of the call checked", checked)
			// The sender counts a batch once it has written it: the
			// collector may have the packets a moment before.
			got := gathered(t, reg, "palio_sip_hep_sent_total")
			for deadline := time.Now().Add(2 * time.Second); got < float64(len(hepCallMessages)) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				got = gathered(t, reg, "palio_sip_hep_sent_total")
			}
			if got < float64(len(hepCallMessages)) {
				t.Errorf("palio_sip_hep_sent_total = %v, want at least %d", got, len(hepCallMessages))
			}
		})
	}
}

// captureCall runs one answered call through a proxy capturing to c: the
// caller reaches the proxy over network, the proxy the callee over UDP.
func captureCall(t *testing.T, network string, c sip.Capturer) hepCall {
	t.Helper()
	return captureCallLegs(t, hepLeg{caller: network, callee: "udp"}, c)
}

// captureCallLegs runs one answered call through a proxy capturing to c,
// its legs as leg says.
func captureCallLegs(t *testing.T, leg hepLeg, c sip.Capturer) hepCall {
	t.Helper()
	p := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
	opts := []sip.Option{sip.WithCapture(c)}
	if leg.byName {
		opts = append(opts, sip.WithResolver(fakeDNS(t, map[string][]string{"gw.unisi.it": {"127.0.0.1"}})))
	}
	pc := siptest.ProxyConfig{Options: opts, Stages: []sip.Middleware{p.routeStage}}
	calleeOpts := []siptest.Option{siptest.WithUser("5002")}
	switch leg.callee {
	case "tcp":
		calleeOpts = append(calleeOpts, siptest.WithTransport("tcp"))
	case "tls":
		pki := newPKI(t)
		pc.Server.TLS = newTLS(t, pki.tlsConfig())
		pc.Networks = []string{"udp", "tcp", "tls"}
		calleeOpts = append(calleeOpts, siptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{pki.local.TLS}}))
	}
	tp := siptest.NewProxy(t, pc)
	p.srv, p.fwd = tp.Server, tp.Forwarder
	callee := siptest.NewUA(t, calleeOpts...)
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithTransport(leg.caller), siptest.WithProxy(tp.Addr(leg.caller)))
	tgt := target(t, callee.URI())
	if leg.byName {
		tgt.URI.Host = "gw.unisi.it"
	}
	p.route("5002", tgt)
	start := time.Now()
	ctx := ctxT(t, 5*time.Second)
	inv, err := caller.Invite(ctx, "sip:5002@"+tp.Addr(leg.caller))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := inv.WaitFinal(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v %v", res, err)
	}
	in, err := callee.WaitIncoming(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WaitAck(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := inv.Bye(ctx); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", res, err)
	}
	return hepCall{
		callID: inv.CallID(), start: start, end: time.Now().Add(time.Second), network: leg.caller, calleeNet: leg.callee,
		caller: netip.MustParseAddrPort(caller.Addr()), proxy: netip.MustParseAddrPort(tp.Addr(leg.caller)),
		callee: netip.MustParseAddrPort(callee.Addr()), proxyU: netip.MustParseAddrPort(tp.Addr("udp")),
	}
}

// matchCall returns the messages of hepCallMessages the packets lack.
func matchCall(ps []sip.HEPPacket, c hepCall) []hepWant {
	var missing []hepWant
	for _, w := range hepCallMessages {
		found := false
		for _, p := range ps {
			if string(p.CorrelationID) == c.callID && hepSummary(p) == w.summary && c.is(p, w.from, true) && c.is(p, w.to, false) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// is reports whether p's source (src) or destination is party's address
// on the hop in question: the caller's and the proxy's own on the
// caller's transport (a TCP caller connects from a port of its own), the
// callee's and the proxy's on the callee's side (the proxy's UDP address,
// or a port of its own on a connection it dialled), the hop told by the
// other end.
func (c hepCall) is(p sip.HEPPacket, party string, src bool) bool {
	ap, other := p.Dst, p.Src
	if src {
		ap, other = p.Src, p.Dst
	}
	switch party {
	case "caller":
		if c.network != "udp" {
			return ap.Addr() == c.caller.Addr() && ap != c.proxy && ap != c.callee
		}
		return ap == c.caller
	case "proxy":
		if other == c.callee {
			if c.calleeNet != "udp" {
				return ap.Addr() == c.proxyU.Addr() && ap != c.callee && ap != c.caller && ap != c.proxy
			}
			return ap == c.proxyU
		}
		return ap == c.proxy
	case "callee":
		return ap == c.callee
	}
	return false
}

// checkHEPFields checks every chunk of a packet of the call.
func checkHEPFields(t *testing.T, p sip.HEPPacket, c hepCall) {
	t.Helper()
	what := hepSummary(p) + " " + p.Src.String() + "->" + p.Dst.String()
	wantProto := uint8(sip.HEPProtoUDP)
	calleeHop := p.Src == c.callee || p.Dst == c.callee
	if calleeHop && c.calleeNet != "udp" || !calleeHop && c.network != "udp" {
		wantProto = sip.HEPProtoTCP // TLS too, as OpenSIPS writes it
	}
	if p.Protocol != wantProto {
		t.Errorf("%s: protocol got %d, want %d", what, p.Protocol, wantProto)
	}
	if p.Family != sip.HEPFamilyIPv4 {
		t.Errorf("%s: family got %d, want 2", what, p.Family)
	}
	if p.ProtoType != sip.HEPTypeSIP || p.CaptureID != 2001 || string(p.AuthKey) != "s3cret" || string(p.NodeName) != "siena-1" {
		t.Errorf("%s: type %d, capture id %d, auth key %q, node %q; want 1, 2001, s3cret, siena-1", what, p.ProtoType, p.CaptureID, p.AuthKey, p.NodeName)
	}
	if p.Time.Before(c.start.Truncate(time.Microsecond)) || p.Time.After(c.end) {
		t.Errorf("%s: time %v outside the call (%v to %v)", what, p.Time, c.start, c.end)
	}
	m, err := sipmsg.ParseMessage(bytes.Clone(p.Payload))
	if err != nil {
		t.Errorf("%s: payload does not parse: %v\n%s", what, err, p.Payload)
		return
	}
	if id := m.CallID(); id == nil || id.Value() != c.callID {
		t.Errorf("%s: payload's Call-ID %v, want %s", what, id, c.callID)
	}
	if cl := m.ContentLength(); cl != nil && int(*cl) != len(m.Body()) {
		t.Errorf("%s: payload body %d bytes, Content-Length %d: not one whole message", what, len(m.Body()), *cl)
	}
	if len(p.Payload) > 0 && !bytes.HasSuffix(p.Payload, m.Body()) {
		t.Errorf("%s: payload does not end with its body", what)
	}
}

func gathered(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// teeCapture hands each message to several capturers.
type teeCapture []sip.Capturer

func (t teeCapture) CaptureSIP(m sip.Captured) {
	for _, c := range t {
		c.CaptureSIP(m)
	}
}

// startSngrep starts sngrep listening for HEP on a free UDP port of the
// loopback and writing pcap; it returns the address, sngrep's output (to
// be read once stop has returned) and stop. A port taken by another test
// between its choice and sngrep's bind (seen under load) is chosen again.
func startSngrep(t *testing.T, bin, pcap string) (addr string, out *bytes.Buffer, stop func()) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr, out, stop, busy := trySngrep(t, bin, pcap)
		if !busy {
			t.Cleanup(stop)
			return addr, out, stop
		}
		if attempt == 3 {
			t.Fatalf("sngrep found its port taken three times: %s", out.String())
		}
	}
}

// trySngrep is one attempt of startSngrep; busy reports that sngrep
// exited because its port was taken.
func trySngrep(t *testing.T, bin, pcap string) (addr string, out *bytes.Buffer, stop func(), busy bool) {
	t.Helper()
	addr = freeUDPPort(t)
	out = new(bytes.Buffer)
	cmd := exec.Command(bin, "-N", "-q", "-L", "udp:"+addr, "-O", pcap)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
	}
	// sngrep is listening once the port is taken. out is read only once
	// sngrep has exited: Wait has then copied all of it.
	for i := 0; ; i++ {
		select {
		case <-exited:
			stopped = true
			if strings.Contains(out.String(), "already in use") {
				return addr, out, stop, true
			}
			t.Fatalf("sngrep exited before listening on %s: %s", addr, out.String())
		default:
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return addr, out, stop, false
		}
		pc.Close()
		if i == 200 {
			stop()
			if strings.Contains(out.String(), "already in use") {
				// sngrep reported the port taken but did not exit.
				return addr, out, stop, true
			}
			t.Fatalf("sngrep does not listen on %s: %s", addr, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHEPSngrep: Debian's sngrep, listening for HEP (-L), decodes what the
// proxy sends for a real call, and the pcap it writes (-O) holds each
// message with the same addresses, ports, time and payload as the
// in-process collector decoded: an independent reader of the encoding.
func TestHEPSngrep(t *testing.T) {
	bin, err := exec.LookPath("sngrep")
	if err != nil {
		t.Skip("sngrep not installed (apt-get install sngrep)")
	}
	leakCheck(t)
	pcap := filepath.Join(t.TempDir(), "capture.pcap")
	addr, out, stop := startSngrep(t, bin, pcap)

	coll := newHEPCollector(t, "udp")
	toColl, err := sip.NewHEPClient(sip.HEPConfig{Addr: coll.addr, CaptureID: 7}, sip.WithHEPLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { toColl.Close() })
	toSngrep, err := sip.NewHEPClient(sip.HEPConfig{Addr: addr, CaptureID: 7}, sip.WithHEPLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { toSngrep.Close() })
	call := captureCall(t, "udp", teeCapture{toColl, toSngrep})
	ps := coll.wait(func(ps []sip.HEPPacket) bool { return len(matchCall(ps, call)) == 0 })
	time.Sleep(200 * time.Millisecond) // sngrep reads its socket on its own time
	stop()

	recs, err := readPcap(pcap)
	if err != nil {
		t.Fatalf("sngrep's pcap: %v\n%s", err, out.String())
	}
	compared := 0
	defer func() { t.Logf("%d packets of the call found in sngrep's pcap of %d", compared, len(recs)) }()
	for _, p := range ps {
		if string(p.CorrelationID) != call.callID {
			continue
		}
		compared++
		found := false
		for _, r := range recs {
			if r.src == p.Src && r.dst == p.Dst && r.time.Equal(p.Time) && bytes.Equal(r.payload, p.Payload) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("sngrep did not decode %s %s->%s at %v (it wrote %d packets)", hepSummary(p), p.Src, p.Dst, p.Time, len(recs))
		}
	}
}

// pcapRecord is one packet of a pcap file: IPv4 and UDP headers decoded.
type pcapRecord struct {
	time     time.Time
	src, dst netip.AddrPort
	payload  []byte
}

// readPcap reads a classic pcap file of Ethernet (or raw IP) frames
// carrying IPv4 UDP or TCP, as sngrep writes the packets it decoded.
func readPcap(path string) ([]pcapRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, errors.New("no pcap header")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	default:
		return nil, errors.New("not a pcap file")
	}
	link := bo.Uint32(b[20:24])
	var out []pcapRecord
	for rest := b[24:]; len(rest) >= 16; {
		sec, usec, incl := bo.Uint32(rest[0:4]), bo.Uint32(rest[4:8]), int(bo.Uint32(rest[8:12]))
		if len(rest) < 16+incl {
			return out, errors.New("truncated record")
		}
		frame := rest[16 : 16+incl]
		rest = rest[16+incl:]
		if link == 1 { // Ethernet
			if len(frame) < 14 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
				continue
			}
			frame = frame[14:]
		}
		if len(frame) < 20 || frame[0]>>4 != 4 {
			continue
		}
		ihl := int(frame[0]&0x0f) * 4
		proto := frame[9]
		src := netip.AddrFrom4([4]byte(frame[12:16]))
		dst := netip.AddrFrom4([4]byte(frame[16:20]))
		l4 := frame[ihl:]
		var hdr int
		switch proto {
		case 17:
			hdr = 8
		case 6:
			if len(l4) < 20 {
				continue
			}
			hdr = int(l4[12]>>4) * 4
		default:
			continue
		}
		if len(l4) < hdr {
			continue
		}
		out = append(out, pcapRecord{
			time:    time.Unix(int64(sec), int64(usec)*1000),
			src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2])),
			dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4])),
			payload: l4[hdr:],
		})
	}
	return out, nil
}

// TestHEPDropped: what the collector does not get is counted in
// palio_sip_hep_dropped_total by reason, and SIP goes on: a dead
// collector (TCP, nothing listening) gets none of a real call's messages,
// each counted as a send-error while the call completes; a queue of one
// under a burst drops the overflow as queue-full, and every message is
// either sent or counted; a message too long for HEP's 16-bit length is
// too-large.
func TestHEPDropped(t *testing.T) {
	t.Run("dead collector", func(t *testing.T) {
		leakCheck(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		reg := prometheus.NewRegistry()
		hc, err := sip.NewHEPClient(sip.HEPConfig{Addr: dead, Network: "tcp", Timeout: 200 * time.Millisecond},
			sip.WithHEPLogger(testLogger()), sip.WithHEPRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		captureCall(t, "udp", hc) // fails the test unless the call completes
		hc.Close()
		dropped := gathered(t, reg, "palio_sip_hep_dropped_total", "reason", "send-error")
		if sent := gathered(t, reg, "palio_sip_hep_sent_total"); sent != 0 || dropped < float64(len(hepCallMessages)) {
			t.Errorf("sent %v, dropped (send-error) %v; want 0 and at least the call's %d messages", sent, dropped, len(hepCallMessages))
		}
	})
	t.Run("queue full", func(t *testing.T) {
		leakCheck(t)
		coll := newHEPCollector(t, "udp")
		reg := prometheus.NewRegistry()
		hc, err := sip.NewHEPClient(sip.HEPConfig{Addr: coll.addr, Queue: 1},
			sip.WithHEPLogger(testLogger()), sip.WithHEPRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		const burst = 2000
		m := sip.Captured{Time: time.Now(), Network: "udp", Src: netip.MustParseAddrPort("127.0.0.1:5070"),
			Dst: netip.MustParseAddrPort("127.0.0.1:5060"), Data: []byte(hepInvite)}
		for range burst {
			hc.CaptureSIP(m)
		}
		hc.Close()
		sent := gathered(t, reg, "palio_sip_hep_sent_total")
		full := gathered(t, reg, "palio_sip_hep_dropped_total", "reason", "queue-full")
		if full == 0 || sent+full != burst {
			t.Errorf("sent %v, dropped (queue-full) %v; want some dropped, and %d in all", sent, full, burst)
		}
		if other := gathered(t, reg, "palio_sip_hep_dropped_total") - full; other != 0 {
			t.Errorf("%v dropped for other reasons", other)
		}
	})
	t.Run("too large", func(t *testing.T) {
		leakCheck(t)
		coll := newHEPCollector(t, "udp")
		reg := prometheus.NewRegistry()
		hc, err := sip.NewHEPClient(sip.HEPConfig{Addr: coll.addr}, sip.WithHEPLogger(testLogger()), sip.WithHEPRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		big := append([]byte(hepInvite), bytes.Repeat([]byte("x"), 70000)...)
		hc.CaptureSIP(sip.Captured{Time: time.Now(), Network: "tcp", Src: netip.MustParseAddrPort("127.0.0.1:5070"),
			Dst: netip.MustParseAddrPort("127.0.0.1:5060"), Data: big})
		hc.Close()
		if got := gathered(t, reg, "palio_sip_hep_dropped_total", "reason", "too-large"); got != 1 {
			t.Errorf("dropped (too-large) %v, want 1", got)
		}
	})
}

// discardCapture is a Capturer that keeps nothing.
type discardCapture struct{}

func (discardCapture) CaptureSIP(sip.Captured) {}

// TestCaptureTCPReconnect: with capture on and no Config.TLS, the TCP
// connection the proxy dials to a callee is reused, and when the callee
// goes away and comes back on the same address, the first call after
// each restart is answered over a new connection: the old one, known
// closed while sipgo's read loop is held, is dropped and dialled again,
// counted in palio_sip_tls_redials_total on the server's registerer.
func TestCaptureTCPReconnect(t *testing.T) {
	leakCheck(t)
	reg := prometheus.NewRegistry()
	p := &testProxy{routes: map[string][]sip.Target{}, serial: map[string]bool{}}
	tp := siptest.NewProxy(t, siptest.ProxyConfig{
		Options: []sip.Option{sip.WithCapture(discardCapture{}), sip.WithRegisterer(reg)},
		Stages:  []sip.Middleware{p.routeStage},
	})
	p.srv, p.fwd = tp.Server, tp.Forwarder
	callee := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"), siptest.WithScript(siptest.Respond(200)))
	addr := callee.Addr()
	p.route("5002", target(t, callee.URI()))
	caller := siptest.NewUA(t, siptest.WithUser("5001"), siptest.WithProxy(tp.Addr("udp")))
	ctx := ctxT(t, 20*time.Second)
	call := func(what string) {
		t.Helper()
		c, err := caller.Invite(ctx, "sip:5002@"+tp.Addr("udp"))
		if err != nil {
			t.Fatal(err)
		}
		if code := tlsFinal(ctx, c); code != 200 {
			t.Fatalf("%s: got %d, want 200", what, code)
		}
		if res, err := c.Bye(ctx); err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: BYE: %v %v", what, res, err)
		}
	}
	oneConnection := func(ua *siptest.UA, n int) {
		t.Helper()
		invs := ua.Received(sip.INVITE)
		if len(invs) != n {
			t.Fatalf("the callee received %d INVITEs, want %d", len(invs), n)
		}
		for _, inv := range invs[1:] {
			if inv.Source() != invs[0].Source() {
				t.Errorf("INVITEs from %s and %s: the connection was not reused", invs[0].Source(), inv.Source())
			}
		}
	}
	call("call 1")
	call("call 2")
	oneConnection(callee, 2)
	if got := tp.Server.Connections()["tcp"]; got != 0 {
		t.Errorf("accepted TCP connections: got %d, want 0 (the proxy dialled)", got)
	}
	t.Cleanup(sip.HoldDialedReads(false))
	for i := range 2 {
		callee.Close()
		callee = siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithTransport("tcp"), siptest.WithScript(siptest.Respond(200)), siptest.WithListen(addr))
		call(fmt.Sprintf("restart %d, first call", i+1))
		call(fmt.Sprintf("restart %d, second call", i+1))
		oneConnection(callee, 2)
	}
	if got := gathered(t, reg, "palio_sip_tls_redials_total", "cause", "closed"); got != 2 {
		t.Errorf("redials (closed): got %v, want 2", got)
	}
}
