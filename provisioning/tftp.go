package provisioning

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pin/tftp/v3"
)

// TFTPConfig bounds a TFTP server.
type TFTPConfig struct {
	// Timeout is how long a block waits for its acknowledgement before
	// it is sent again (default 5s); Retries how many times (default 5).
	Timeout time.Duration
	Retries int
	// MaxTransfers caps the transfers running at once (default 16): more
	// are refused with an error packet.
	MaxTransfers int
	// MaxDuration cuts off a transfer running longer (default 5 minutes).
	MaxDuration time.Duration
	// MaxSize is the largest file served (default 64 MiB; a file's size
	// is in the tsize option).
	MaxSize int64
	// MaxBlockSize caps the blksize option (RFC 2348) a client may
	// negotiate (default 1468: an Ethernet frame); 512 to 65464.
	MaxBlockSize int
}

func (c TFTPConfig) withDefaults() TFTPConfig {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries <= 0 {
		c.Retries = 5
	}
	if c.MaxTransfers <= 0 {
		c.MaxTransfers = 16
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = 5 * time.Minute
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 64 << 20
	}
	if c.MaxBlockSize < 512 || c.MaxBlockSize > 65464 {
		c.MaxBlockSize = 1468
	}
	return c
}

// TFTPServer serves the provisioning files over TFTP (RFC 1350, with the
// option extension of RFC 2347, blksize of RFC 2348 and tsize of RFC
// 2349), read-only, with the provisioner's checks: the allow-list, the
// rate limit and bans, the url key (the first path element of the file
// name), unknown devices recorded. TFTP carries no User-Agent and no
// credentials: a device with an AuthSecret is not served over it.
type TFTPServer struct {
	p    *Provisioner
	cfg  TFTPConfig
	srv  *tftp.Server
	slot chan struct{}

	mu     sync.Mutex
	closed bool
	served chan struct{}
}

// NewTFTPServer returns a TFTP server for p's files.
func (p *Provisioner) NewTFTPServer(cfg TFTPConfig) *TFTPServer {
	cfg = cfg.withDefaults()
	t := &TFTPServer{p: p, cfg: cfg, slot: make(chan struct{}, cfg.MaxTransfers)}
	t.srv = tftp.NewServer(t.read, nil)
	t.srv.SetTimeout(cfg.Timeout)
	t.srv.SetRetries(cfg.Retries)
	t.srv.SetBlockSize(cfg.MaxBlockSize)
	// MaxBlockSize is the cap: pin/tftp's own clamp to the receiving
	// interface's MTU falls back to 512 when it cannot tell the interface
	// (seen at random on loopback: TestTFTPOptions was granted 512 for
	// 800), which would slow a phone's firmware download fourfold.
	t.srv.SetBlockSizeNegotiation(false)
	return t
}

// Serve serves TFTP on conn (a UDP socket) until Close. Each transfer
// runs from a socket of its own (a new port, as RFC 1350 has it).
func (t *TFTPServer) Serve(conn net.PacketConn) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errors.New("provisioning: TFTP server closed")
	}
	t.served = make(chan struct{})
	t.mu.Unlock()
	defer close(t.served)
	return t.srv.Serve(conn)
}

// Close stops the server and waits for its transfers to end (each is
// bounded by MaxDuration and its retransmissions).
func (t *TFTPServer) Close() error {
	t.mu.Lock()
	t.closed = true
	served := t.served
	t.mu.Unlock()
	t.srv.Shutdown()
	if served != nil {
		<-served
	}
	return nil
}

// errTFTP are the errors a client reads; they say no more than HTTP's
// statuses would.
var (
	errTFTPNotFound = errors.New("file not found")
	errTFTPDenied   = errors.New("access violation")
	errTFTPBusy     = errors.New("server busy, try again")
	errTFTPError    = errors.New("server error")
)

// read is the TFTP read handler.
func (t *TFTPServer) read(filename string, rf io.ReaderFrom) error {
	select {
	case t.slot <- struct{}{}:
		defer func() { <-t.slot }()
	default:
		t.p.metrics.fetches.WithLabelValues("tftp", "refused").Inc()
		t.p.metrics.refused.WithLabelValues("too-busy").Inc()
		return errTFTPBusy
	}
	ot, _ := rf.(tftp.OutgoingTransfer)
	var src netip.Addr
	if ot != nil {
		ra := ot.RemoteAddr()
		src, _ = netip.AddrFromSlice(ra.IP)
	}
	var local string
	if rp, ok := rf.(tftp.RequestPacketInfo); ok && rp.LocalIP() != nil && !rp.LocalIP().IsUnspecified() {
		local = rp.LocalIP().String()
	}
	base := "tftp://" + local
	if strings.Contains(local, ":") {
		base = "tftp://[" + local + "]"
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.MaxDuration)
	defer cancel()
	o := t.p.serve(ctx, fetch{proto: "tftp", file: strings.TrimPrefix(filename, "/"), src: src, base: base})
	var r io.Reader
	var size int64
	switch {
	case o.status == 200 && o.firmware != "":
		f, err := t.p.cfg.Firmware.Open(o.firmware)
		if err != nil {
			return errTFTPNotFound
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return errTFTPError
		}
		if st.Size() > t.cfg.MaxSize {
			t.p.log.Warn("provisioning: firmware file too large for TFTP", "file", o.firmware, "size", st.Size(), "max", t.cfg.MaxSize)
			return errTFTPDenied
		}
		r, size = f, st.Size()
	case o.status == 200:
		r, size = bytes.NewReader(o.body), int64(len(o.body))
	case o.status == 404:
		return errTFTPNotFound
	case o.status == 429:
		return errTFTPBusy
	case o.status >= 500:
		return errTFTPError
	default:
		return errTFTPDenied
	}
	if ot != nil {
		ot.SetSize(size)
	}
	_, err := rf.ReadFrom(&deadlineReader{r: io.LimitReader(r, size), ctx: ctx})
	if err != nil {
		t.p.log.Debug("provisioning: TFTP transfer failed", "src", src, "file", filename, "error", err)
		return nil // the transfer has ended, aborted by the library
	}
	return nil
}

// deadlineReader fails once ctx ends: a transfer running past its
// MaxDuration is aborted.
type deadlineReader struct {
	r   io.Reader
	ctx context.Context
}

func (d *deadlineReader) Read(b []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, fmt.Errorf("provisioning: TFTP transfer too long: %w", err)
	}
	return d.r.Read(b)
}
