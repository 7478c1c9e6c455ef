//go:build linux

package mediabridge

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The per-packet path lives here. Relay sockets are raw non-blocking file
// descriptors in a level-triggered epoll set owned by one poller
// goroutine, not net.UDPConns in Go's edge-triggered netpoller: each ready
// socket costs exactly one recvfrom and one sendto, with no EAGAIN read to
// park a goroutine, no allocation and no lock. A socket with more packets
// queued stays ready and comes back from the next epoll_wait.
//
// The poller never blocks in epoll_wait: it polls its set with a zero
// timeout until nothing is ready, and then parks its goroutine in Go's
// netpoller on the epoll descriptor itself (an epoll set is readable
// while it has ready events). A thread blocked in a system call would
// hold its P until sysmon took it back, and every packet after a quiet
// spell would then cost a P hand-off and a thread wake-up; parked in the
// netpoller, the goroutine is woken like any network goroutine, and under
// load one wake-up serves many packets.

// rawAddr is a struct sockaddr_in or sockaddr_in6 as the kernel reads and
// writes it.
type rawAddr struct {
	b [syscall.SizeofSockaddrInet6]byte
	n uint32
}

func (a *rawAddr) family() uint16 { return *(*uint16)(unsafe.Pointer(&a.b[0])) }

// equal compares the port and the address.
func (a *rawAddr) equal(o *rawAddr) bool {
	if a.family() != o.family() {
		return false
	}
	if a.family() == syscall.AF_INET {
		return [6]byte(a.b[2:8]) == [6]byte(o.b[2:8])
	}
	return [2]byte(a.b[2:4]) == [2]byte(o.b[2:4]) && [20]byte(a.b[8:28]) == [20]byte(o.b[8:28])
}

// sameIP compares the addresses only.
func (a *rawAddr) sameIP(o *rawAddr) bool {
	if a.family() != o.family() {
		return false
	}
	if a.family() == syscall.AF_INET {
		return [4]byte(a.b[4:8]) == [4]byte(o.b[4:8])
	}
	return [16]byte(a.b[8:24]) == [16]byte(o.b[8:24])
}

func (a *rawAddr) addrPort() netip.AddrPort {
	port := uint16(a.b[2])<<8 | uint16(a.b[3])
	if a.family() == syscall.AF_INET {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a.b[4:8])), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(a.b[8:24])).Unmap(), port)
}

// makeRaw builds the sockaddr for ap in the sockets' family (v4-mapped
// for IPv4 peers of IPv6 sockets).
func makeRaw(ap netip.AddrPort, v6 bool) (rawAddr, error) {
	var a rawAddr
	ip := ap.Addr()
	if !v6 {
		ip = ip.Unmap()
		if !ip.Is4() {
			return a, fmt.Errorf("mediabridge: %s: an IPv6 peer for IPv4 relay sockets", ap)
		}
		*(*uint16)(unsafe.Pointer(&a.b[0])) = syscall.AF_INET
		a.b[2], a.b[3] = byte(ap.Port()>>8), byte(ap.Port())
		b4 := ip.As4()
		copy(a.b[4:8], b4[:])
		a.n = syscall.SizeofSockaddrInet4
		return a, nil
	}
	*(*uint16)(unsafe.Pointer(&a.b[0])) = syscall.AF_INET6
	a.b[2], a.b[3] = byte(ap.Port()>>8), byte(ap.Port())
	b16 := ip.As16()
	copy(a.b[8:24], b16[:])
	a.n = syscall.SizeofSockaddrInet6
	return a, nil
}

// openSocket opens a non-blocking UDP socket bound to ip:port.
func openSocket(ip netip.Addr, port int) (int, error) {
	family := syscall.AF_INET
	if ip.Is6() && !ip.Is4In6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return -1, err
	}
	var sa syscall.Sockaddr
	if family == syscall.AF_INET {
		sa = &syscall.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func closeSocket(fd int) { syscall.Close(fd) }

// Drop reasons, the label values of palio_mediabridge_dropped_total.
const (
	dropNoPeer = iota // the leg's or the other leg's peer not known yet
	dropSource        // from a source other than the latched (or, strict, the SDP) one
	dropSend          // sendto failed (buffer full, unreachable)
	nDrops
)

var dropReasons = [nDrops]string{"no_peer", "source", "send_error"}

// poller is one goroutine with an epoll set: it owns every socket of the
// streams given to it and their latching and statistics state.
type poller struct {
	r     *Relay
	epfd  int
	ep    *os.File // epfd, registered with Go's netpoller
	rc    syscall.RawConn
	wakeR int // a pipe: a byte written wakes epoll_wait
	wakeW int

	mu      sync.Mutex
	pending []closeOp
	stopped bool
	done    chan struct{}

	// counters for the metrics: written by the poller only.
	packets [2]atomic.Uint64 // rtp, rtcp
	bytes   [2]atomic.Uint64
	dropped [nDrops]atomic.Uint64

	events [128]syscall.EpollEvent
	from   rawAddr
	buf    [65536]byte
}

type closeOp struct {
	st *Stream
	wg *sync.WaitGroup
}

const wakeToken = -1

func newPoller(r *Relay) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("mediabridge: epoll_create1: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("mediabridge: pipe2: %w", err)
	}
	p := &poller{r: r, epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], done: make(chan struct{})}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeToken}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wakeR, &ev); err != nil {
		p.closeFds()
		return nil, fmt.Errorf("mediabridge: epoll_ctl: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		p.closeFds()
		return nil, fmt.Errorf("mediabridge: epoll fd: %w", err)
	}
	p.ep = os.NewFile(uintptr(epfd), "mediabridge-epoll")
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.closeFds()
		return nil, fmt.Errorf("mediabridge: epoll fd: %w", err)
	}
	p.rc = rc
	return p, nil
}

func (p *poller) closeFds() {
	if p.ep != nil {
		p.ep.Close()
	} else {
		syscall.Close(p.epfd)
	}
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
}

func (p *poller) wake() {
	var b = [1]byte{1}
	syscall.Write(p.wakeW, b[:]) // a full pipe already wakes it
}

// add registers a socket; its token is its port's offset in the Relay's
// table, which stays unique while the port is out of the pool.
func (p *poller) add(s *sock) error {
	tok := s.port - p.r.pool.base
	p.r.table[tok].Store(s)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(tok)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		p.r.table[tok].Store(nil)
		return fmt.Errorf("mediabridge: epoll_ctl: %w", err)
	}
	return nil
}

// release takes a stream's sockets out of the epoll set at once, and has
// the poller close them and return their ports after the batch of events
// it may be handling: a descriptor is never closed (and its number
// reused) while the poller could still read it.
func (p *poller) release(st *Stream, wg *sync.WaitGroup) {
	for i := range st.legs {
		for k := range st.legs[i].socks {
			s := &st.legs[i].socks[k]
			p.r.table[s.port-p.r.pool.base].Store(nil)
			syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
		}
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.r.closeStream(st)
		wg.Done()
		return
	}
	p.pending = append(p.pending, closeOp{st, wg})
	p.mu.Unlock()
	p.wake()
}

// stop ends the poller goroutine after its pending closes.
func (p *poller) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wake()
	<-p.done
	p.closeFds()
}

func (p *poller) runPending() (stopped bool) {
	p.mu.Lock()
	ops := p.pending
	p.pending = nil
	stopped = p.stopped
	p.mu.Unlock()
	for _, op := range ops {
		p.r.closeStream(op.st)
		op.wg.Done()
	}
	return stopped
}

func (p *poller) run() {
	defer close(p.done)
	stopped := false
	// Read calls poll until it returns true, parking the goroutine in
	// the netpoller whenever it returns false (nothing ready).
	err := p.rc.Read(func(uintptr) bool {
		stopped = p.poll()
		return stopped
	})
	if !stopped {
		// Not expected (the descriptor cannot be waited on): stop
		// relaying but keep Close working; later releases close inline.
		p.r.log.Error("mediabridge: epoll wait failed, poller stopped", "error", err)
		p.fail()
	}
}

// poll handles what is ready, without blocking, until nothing is; it
// reports whether the poller must stop.
func (p *poller) poll() (stop bool) {
	for {
		n, e := epollWait(p.epfd, p.events[:])
		if e != 0 && e != syscall.EINTR {
			p.r.log.Error("mediabridge: epoll_wait failed, poller stopped", "error", e)
			p.fail()
			return true
		}
		if n <= 0 {
			return p.runPending()
		}
		now := p.r.mono()
		for i := 0; i < n; i++ {
			tok := p.events[i].Fd
			if tok == wakeToken {
				var b [64]byte
				syscall.Read(p.wakeR, b[:])
				continue
			}
			if s := p.r.table[tok].Load(); s != nil {
				p.handle(s, now)
			}
		}
		if p.runPending() {
			return true
		}
	}
}

// fail marks the poller stopped after an error and closes what is
// pending.
func (p *poller) fail() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.runPending()
}

// epollWait is epoll_wait with a zero timeout: it never blocks, so it
// does not go through the scheduler's system call hand-off.
func epollWait(epfd int, events []syscall.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	return int(n), e
}

func recvfrom(fd int, b []byte, from *rawAddr) (int, syscall.Errno) {
	from.n = uint32(len(from.b))
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_TRUNC,
		uintptr(unsafe.Pointer(&from.b[0])), uintptr(unsafe.Pointer(&from.n)))
	return int(n), e
}

func sendto(fd int, b []byte, to *rawAddr) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&to.b[0])), uintptr(to.n))
	return e
}

// handle reads one datagram from s and relays it out of the other leg.
func (p *poller) handle(s *sock, now int64) {
	n, e := recvfrom(s.fd, p.buf[:], &p.from)
	if e != 0 || n > len(p.buf) {
		return // EAGAIN (spurious), an ICMP error, or a datagram too big
	}
	l := s.leg
	st := l.st
	pe := l.peer.Load()
	if pe == nil {
		p.drop(l, dropNoPeer)
		return
	}
	if s.gen != pe.gen {
		s.gen = pe.gen
		s.latched = false
	}
	if s.latched {
		if !s.latch.equal(&p.from) {
			// The SDP address is authoritative: a phone that is not
			// behind NAT takes the latch back from whoever took it.
			if !pe.ok[s.kind] || !pe.raw[s.kind].equal(&p.from) {
				p.drop(l, dropSource)
				return
			}
			p.latch(s)
		}
	} else {
		if p.r.cfg.StrictSource && (!pe.ok[0] || !pe.raw[0].sameIP(&p.from)) {
			p.drop(l, dropSource)
			return
		}
		p.latch(s)
	}

	b := p.buf[:n]
	if s.kind == kindRTP {
		l.stats.rtp(b, now, st.rate.Load())
	} else {
		l.stats.rtcpPackets.Add(1)
		l.stats.rtcpBytes.Add(uint64(n))
	}
	if l.stats.firstRx.Load() == 0 {
		l.stats.firstRx.Store(now)
	}
	l.stats.lastRx.Store(now)

	o := &st.legs[1-l.side]
	os := &o.socks[s.kind]
	var dst *rawAddr
	ope := o.peer.Load()
	switch {
	case ope == nil:
	case os.latched && os.gen == ope.gen:
		dst = &os.latch
	case ope.ok[s.kind]:
		dst = &ope.raw[s.kind]
	}
	if dst == nil {
		p.drop(l, dropNoPeer)
		return
	}
	if e := sendto(os.fd, b, dst); e != 0 {
		p.drop(l, dropSend)
		return
	}
	p.packets[s.kind].Add(1)
	p.bytes[s.kind].Add(uint64(n))
}

func (p *poller) latch(s *sock) {
	s.latch = p.from
	s.latched = true
	if s.kind == kindRTP {
		ap := p.from.addrPort()
		s.leg.source.Store(&ap)
	}
}

func (p *poller) drop(l *leg, reason int) {
	l.stats.dropped.Add(1)
	p.dropped[reason].Add(1)
}
