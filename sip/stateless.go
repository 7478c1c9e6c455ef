package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// strayResponse receives responses that match no client transaction. A
// 2xx to an INVITE is an end-to-end retransmission of the callee's answer
// (the Forwarder ends the INVITE transactions as soon as it relays the
// first 2xx, since the UAs retransmit 2xx and ACK end to end): it is
// forwarded statelessly along its Via path, as RFC 3261 §16.7 has a proxy
// do. Anything else is dropped (RFC 6026 §8.4).
func (s *Server) strayResponse(res *Response) {
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if cs := res.CSeq(); cs != nil && cs.MethodName == INVITE {
			if ack := s.hungUp.ackFor(topBranch(res), time.Now()); ack != nil {
				// An answer we hung up, retransmitted: our ACK was lost.
				if err := s.tr.write(ack.Clone()); err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
					s.log.Debug("sip: ACK of a hung-up answer not repeated", "callid", callID(res), "error", err)
				}
				return
			}
			if err := s.forwardStateless(res); err == nil {
				s.metrics.strayRelayed.Inc()
				return
			} else if s.log.Enabled(context.Background(), slog.LevelDebug) {
				s.log.Debug("sip: 2xx retransmission not relayed", "callid", callID(res), "error", err)
			}
		}
	}
	s.metrics.stray.Inc()
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("sip: stray response dropped", "status", res.StatusCode, "callid", callID(res))
	}
}

// forwardStateless sends a response on without a transaction: our Via is
// removed and the response goes where the next Via says (received and
// rport first, RFC 3581).
func (s *Server) forwardStateless(res *Response) error {
	v := res.Via()
	if v == nil || !s.local.isOurVia(v) {
		return errors.New("sip: top Via is not ours")
	}
	if b, _ := v.Params.Get("branch"); !strings.HasPrefix(b, branchPrefix) {
		return errors.New("sip: top Via branch is not ours")
	}
	res.RemoveHeader("Via")
	if e := s.dialogs.lookup(dialogKey{callID(res), fromTag(res)}); e != nil && e.call.hasFilters() {
		// A 2xx retransmission carries the answer again: the call's
		// filters see it as they saw the first (RFC 6026 §8.2).
		if err := e.call.filter(res, CalleeSide); err != nil {
			s.metrics.filterErrors.WithLabelValues("response").Inc()
			s.log.Warn("sip: call filter failed on a response", "callid", callID(res), "status", res.StatusCode, "error", err)
		}
	}
	next := res.Via()
	if next == nil {
		return errors.New("sip: no Via left")
	}
	host := next.Host
	if r, ok := next.Params.Get("received"); ok && r != "" {
		host = r
	}
	port := next.Port
	if rp, ok := next.Params.Get("rport"); ok && rp != "" {
		if n, err := strconv.Atoi(rp); err == nil {
			port = n
		}
	}
	if port == 0 {
		port = sipmsg.DefaultPort(next.Transport)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	network := strings.ToLower(next.Transport)
	res.SetDestination(addr)
	res.SetTransport(next.Transport)
	if network == "udp" && len(s.packetConns) > 0 {
		return writeUDP(s.packetConns[0], addr, res)
	}
	conn, err := s.ua.TransportLayer().GetConnection(network, addr)
	if err != nil {
		return err
	}
	defer conn.TryClose()
	return conn.WriteMsg(res)
}

// readFilter sees every UDP datagram before sipgo parses it. The
// SourceGate, if any, comes first (sourcegate.go). A request of
// a stateless method is taken out of sipgo's path (no server transaction,
// no timers) and handled by serveStateless, right here or on a worker; so
// is an ACK that belongs to no INVITE server transaction (ackpath.go);
// a response to one of our client transactions is queued on its lane
// (responseorder.go); anything else goes on as it is. It never returns
// an error: sipgo stops a listener whose filter fails.
func (s *Server) readFilter(props sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if s.gate != nil && props.Transport == "UDP" && !s.gateDatagram(props, data) {
		return nil, nil
	}
	if props.Transport != "UDP" || s.closing.Load() {
		return data, nil
	}
	if isACK(data) {
		return s.filterAck(props, data), nil
	}
	if isResponse(data) {
		if s.lanes.take(data, props.RemoteAddr.String()) {
			return nil, nil
		}
		return data, nil
	}
	for _, m := range s.stateless {
		if len(data) > len(m) && string(data[:len(m)]) == string(m) && data[len(m)] == ' ' {
			s.inflight.Add(1)
			if s.inline {
				// The parser copies what it keeps, so data, sipgo's read
				// buffer, may be parsed in place.
				s.serveStateless(statelessJob{data, props.RemoteAddr, props.LocalAddr})
				return nil, nil
			}
			buf := make([]byte, len(data))
			copy(buf, data)
			job := statelessJob{buf, props.RemoteAddr, props.LocalAddr}
			select {
			case s.statelessQ <- job:
			default:
				// Every worker is busy (waiting for the database, say):
				// do not hold up the socket's read loop, unless too many
				// requests are pending already (overload.go).
				at, ok := s.overload.admit()
				if !ok {
					s.refuseStateless(job)
					return nil, nil
				}
				go func() {
					defer s.overload.release(at)
					s.serveStateless(job)
				}()
			}
			return nil, nil
		}
	}
	return data, nil
}

// statelessJob is a datagram for serveStateless.
type statelessJob struct {
	data     []byte
	from, to net.Addr
}

// statelessQueue is how many stateless requests wait for a worker before
// readFilter starts goroutines of their own.
const statelessQueue = 1024

// statelessWorkers is how many goroutines serve stateless requests. They
// live as long as the server, so their stacks are grown once: a goroutine
// per REGISTER spent a tenth of the CPU growing its stack. There are
// enough of them for a write-through location store, where each waits
// for its group commit.
func statelessWorkers() int { return max(64, 8*runtime.GOMAXPROCS(0)) }

func (s *Server) statelessWorker() {
	defer s.workers.Done()
	for job := range s.statelessQ {
		s.serveStateless(job)
	}
}

// serveStateless handles a request without a server transaction and
// answers it from the listening socket it came to.
func (s *Server) serveStateless(job statelessJob) {
	defer s.inflight.Add(-1)
	from, to := job.from, job.to
	m, err := sipmsg.ParseMessage(job.data)
	if err != nil {
		s.inputs.unparsableFrom("udp", from, len(job.data), err.Error())
		s.answerMalformed(job.data, from, to)
		return
	}
	req, ok := m.(*sipmsg.Request)
	if !ok {
		return
	}
	req.SetSource(from.String())
	req.SetTransport("UDP")
	s.metrics.request(req.Method)
	if req.IsAck() {
		s.serveAck(req)
		return
	}
	pc := s.packetConnFor(to)
	if pc == nil {
		return
	}
	w := &statelessWriter{s: s, pc: pc, dest: responseAddr(req)}
	if !supportedVersion(req) {
		_ = w.WriteResponse(NewResponse(req, 505, "Version Not Supported"))
		return
	}
	if err := validate(req); err != nil {
		_ = w.WriteResponse(NewResponse(req, 400, err.Error()))
		return
	}
	if s.draining.Load() {
		res := NewResponse(req, 503, "Shutting Down")
		res.AppendHeader(sipmsg.NewHeader("Retry-After", "30"))
		_ = w.WriteResponse(res)
		return
	}
	err = s.serve(s.baseCtx, w, req)
	s.finish(w, req, err)
	s.logRequest(req, w.Status())
}

// packetConnFor returns the UDP listener bound to addr (the first one if
// none is: a wildcard listener reports the address it was bound with).
func (s *Server) packetConnFor(addr net.Addr) net.PacketConn {
	for _, pc := range s.packetConns {
		if pc.LocalAddr().String() == addr.String() {
			return pc
		}
	}
	if len(s.packetConns) == 0 {
		return nil
	}
	return s.packetConns[0]
}

// statelessWriter answers a request handled without a transaction.
type statelessWriter struct {
	s      *Server
	pc     net.PacketConn
	dest   string
	mu     sync.Mutex
	status int
}

func (w *statelessWriter) WriteResponse(res *Response) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if res.StatusCode >= 200 {
		if w.status != 0 {
			return ErrFinalSent
		}
		w.status = res.StatusCode
		w.s.metrics.response(res.StatusCode)
	}
	return writeUDP(w.pc, w.dest, res)
}

// writeUDP sends res from pc to dest ("ip:port", or a host name) without a
// transaction: from a pooled buffer, to a parsed address when dest is one.
func writeUDP(pc net.PacketConn, dest string, res *Response) error {
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer responseBuffers.Put(buf)
	buf.Reset()
	res.StringWrite(buf)
	if ap, err := netip.ParseAddrPort(dest); err == nil {
		return writeDatagram(pc, buf.Bytes(), ap)
	}
	addr, err := net.ResolveUDPAddr("udp", dest)
	if err != nil {
		return fmt.Errorf("sip: response address %q: %w", dest, err)
	}
	_, err = pc.WriteTo(buf.Bytes(), addr)
	return err
}

// writeDatagram sends b from pc to ap: without allocating when pc is a
// *net.UDPConn or a wrapper of one (capture.go, rawudp_linux.go).
func writeDatagram(pc net.PacketConn, b []byte, ap netip.AddrPort) error {
	var err error
	if uc, ok := pc.(udpAddrPortWriter); ok {
		_, err = uc.WriteToUDPAddrPort(b, ap)
	} else {
		_, err = pc.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	}
	return err
}

// responseBuffers hold serialized responses sent without a transaction.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (w *statelessWriter) Status() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}
