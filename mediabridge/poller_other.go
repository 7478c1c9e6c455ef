//go:build !linux

package mediabridge

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
)

// The relay's per-packet path is written for Linux (epoll, raw sockets).
// Elsewhere New fails with errUnsupported; the package still builds, so
// that the SDP side and the types can be used.

var errUnsupported = errors.New("mediabridge: the relay runs on Linux only")

const (
	dropNoPeer = iota
	dropSource
	dropSend
	nDrops
)

var dropReasons = [nDrops]string{"no_peer", "source", "send_error"}

type rawAddr struct{}

func makeRaw(netip.AddrPort, bool) (rawAddr, error) { return rawAddr{}, errUnsupported }

func openSocket(netip.Addr, int) (int, error) { return -1, errUnsupported }

func closeSocket(int) {}

type poller struct {
	packets [2]atomic.Uint64
	bytes   [2]atomic.Uint64
	dropped [nDrops]atomic.Uint64
}

func newPoller(*Relay) (*poller, error)            { return nil, errUnsupported }
func (p *poller) add(*sock) error                  { return errUnsupported }
func (p *poller) release(*Stream, *sync.WaitGroup) {}
func (p *poller) stop()                            {}
func (p *poller) run()                             {}
