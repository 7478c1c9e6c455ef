package provisioning_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/palio-voip/palio/provisioning"
)

// serveTFTP runs p's TFTP server on a loopback port; it is closed when
// the test ends.
func serveTFTP(t *testing.T, p *provisioning.Provisioner, cfg provisioning.TFTPConfig) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := p.NewTFTPServer(cfg)
	done := make(chan error, 1)
	go func() { done <- ts.Serve(conn) }()
	t.Cleanup(func() {
		ts.Close()
		if err := <-done; err != nil {
			t.Errorf("TFTP server: %v", err)
		}
	})
	return conn.LocalAddr().String()
}

// tftpGet fetches file from the server at addr with the Go client.
func tftpGet(t *testing.T, addr, file string, blksize int) ([]byte, int64, error) {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	c.SetRetries(3)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(true)
	wt, err := c.Receive(file, "octet")
	if err != nil {
		return nil, 0, err
	}
	size, _ := wt.(tftp.IncomingTransfer).Size()
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, size, err
	}
	return b.Bytes(), size, nil
}

func tftpFetcher(addr string) fetcher {
	return func(t *testing.T, file, _ string) (string, bool) {
		t.Helper()
		b, _, err := tftpGet(t, addr, file, 0)
		if err != nil {
			return err.Error(), false
		}
		return string(b), true
	}
}

// TestFetchTFTP: every family's files over TFTP on loopback with the Go
// client (no User-Agent), parsed as the phones parse them; the base URL
// the templates write is Config.BaseURL, as a TFTP bootstrap needs.
func TestFetchTFTP(t *testing.T) {
	base := "http://prov.unisi.it:8080/prov"
	s := newSite(t, provisioning.Config{Proxy: "proxy.unisi.it:5060", BaseURL: base})
	addr := serveTFTP(t, s.p, provisioning.TFTPConfig{})
	checkFiles(t, tftpFetcher(addr), base)
	t.Run("not found", func(t *testing.T) {
		_, _, err := tftpGet(t, addr, "nosuch.bin", 0)
		if err == nil || !strings.Contains(err.Error(), "file not found") {
			t.Errorf("got %v, want file not found", err)
		}
	})
}

// TestTFTPFirmware: a 1 MB firmware file over TFTP, with a negotiated
// block size and its size announced (tsize), arrives whole; MaxSize
// refuses a larger one.
func TestTFTPFirmware(t *testing.T) {
	fw := firmwareFS(1 << 20)
	s := newSite(t, provisioning.Config{Firmware: fw})
	addr := serveTFTP(t, s.p, provisioning.TFTPConfig{})
	for _, blk := range []int{0, 1428} {
		t.Run("blksize "+strconv.Itoa(blk), func(t *testing.T) {
			got, size, err := tftpGet(t, addr, "firmware/snom710-8.7.5.35.bin", blk)
			if err != nil {
				t.Fatal(err)
			}
			if size != 1<<20 {
				t.Errorf("tsize %d, want %d", size, 1<<20)
			}
			if !bytes.Equal(got, fw["snom710-8.7.5.35.bin"].Data) {
				t.Errorf("got %d bytes, not the file's %d", len(got), 1<<20)
			}
		})
	}
	small := serveTFTP(t, s.p, provisioning.TFTPConfig{MaxSize: 1000})
	if _, _, err := tftpGet(t, small, "firmware/snom710-8.7.5.35.bin", 0); err == nil {
		t.Error("a file over MaxSize was served")
	}
}

// rrq is a TFTP read request with options (RFC 2347).
func rrq(file string, opts ...string) []byte {
	b := []byte{0, 1}
	for _, s := range append([]string{file, "octet"}, opts...) {
		b = append(append(b, s...), 0)
	}
	return b
}

// TestTFTPOptions: the option negotiation on the wire. A read request
// with blksize and tsize gets an OACK (RFC 2347) granting blksize up to
// MaxBlockSize (RFC 2348) and giving the file's size (RFC 2349); the
// first DATA block then has the negotiated size.
func TestTFTPOptions(t *testing.T) {
	s := newSite(t, provisioning.Config{Firmware: firmwareFS(1 << 20)})
	addr := serveTFTP(t, s.p, provisioning.TFTPConfig{MaxBlockSize: 1024})
	for _, tt := range []struct {
		name, ask, grant string
	}{
		{"granted", "800", "800"},
		{"capped", "8192", "1024"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv, _ := net.ResolveUDPAddr("udp", addr)
			if _, err := c.WriteTo(rrq("firmware/snom710-8.7.5.35.bin", "blksize", tt.ask, "tsize", "0"), srv); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 70000)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if op := binary.BigEndian.Uint16(buf); op != 6 {
				t.Fatalf("opcode %d (%q), want OACK (6)", op, buf[2:n])
			}
			opts := map[string]string{}
			f := strings.Split(strings.TrimSuffix(string(buf[2:n]), "\x00"), "\x00")
			for i := 0; i+1 < len(f); i += 2 {
				opts[f[i]] = f[i+1]
			}
			if opts["blksize"] != tt.grant || opts["tsize"] != strconv.Itoa(1<<20) {
				t.Fatalf("OACK %v, want blksize %s and tsize %d", opts, tt.grant, 1<<20)
			}
			// ACK 0 accepts the options; block 1 follows.
			if _, err := c.WriteTo([]byte{0, 4, 0, 0}, from); err != nil {
				t.Fatal(err)
			}
			n, _, err = c.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := strconv.Atoi(tt.grant)
			if op, blk := binary.BigEndian.Uint16(buf), binary.BigEndian.Uint16(buf[2:]); op != 3 || blk != 1 || n-4 != want {
				t.Fatalf("got opcode %d block %d with %d bytes, want DATA 1 of %d", op, blk, n-4, want)
			}
			// An error packet ends the transfer at once.
			c.WriteTo(append([]byte{0, 5, 0, 0}, "done\x00"...), from)
		})
	}
}

// TestTFTPBusy: transfers beyond MaxTransfers are refused at once with
// an error, not queued.
func TestTFTPBusy(t *testing.T) {
	s := newSite(t, provisioning.Config{Firmware: firmwareFS(1 << 20)})
	addr := serveTFTP(t, s.p, provisioning.TFTPConfig{MaxTransfers: 1, Timeout: 500 * time.Millisecond, Retries: 2})
	// A transfer that stalls: its first block is never acknowledged.
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, _ := net.ResolveUDPAddr("udp", addr)
	c.WriteTo(rrq("firmware/snom710-8.7.5.35.bin"), srv)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1024)
	if _, _, err := c.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	_, _, err = tftpGet(t, addr, "snom710.htm", 0)
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("a second transfer: %v, want busy", err)
	}
}
