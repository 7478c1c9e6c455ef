//go:build linux && (amd64 || arm64 || ppc64le || riscv64 || loong64 || s390x)

package sip

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// TestQueueDelay: datagrams left in a listener's receive queue for 150 ms
// publish a standing delay of at least that (a lower bound: a loaded
// machine only adds to it), which makes admit refuse new requests; a
// standing delay not renewed goes stale.
func TestQueueDelay(t *testing.T) {
	o := newOverload(OverloadConfig{MaxPending: -1, MaxQueueDelay: 100 * time.Millisecond})
	o.init(nil, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := o.delayConnOf(pc)
	defer conn.Close()
	if rc, ok := conn.(*rawUDP); !ok || rc.onStamp == nil {
		t.Fatalf("no queue-delay wrapper: %T", conn)
	}
	tx, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	buf := make([]byte, 100)
	// Datagrams that each wait 150 ms before they are read, until an
	// interval in which all waited is published (the kernel may begin
	// stamping datagrams a little after the socket asks it to: an
	// unstamped one reads as not having waited).
	var now int64
	for i := 0; o.queue.standing(now) < 150*time.Millisecond; i++ {
		if i == 20 {
			t.Fatalf("standing delay %v after %d datagrams that waited 150 ms, want at least 150ms", o.queue.standing(now), i)
		}
		if _, err := tx.Write([]byte("OPTIONS")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // the datagram waits in the queue
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := conn.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "OPTIONS" || from.String() != tx.LocalAddr().String() {
			t.Fatalf("read %d: %q from %v, %v", i, buf[:n], from, err)
		}
		now = time.Now().UnixNano()
	}
	if _, ok := o.admit(); ok {
		t.Error("admitted with a standing queue delay over MaxQueueDelay")
	}
	if d := o.queue.standing(now + int64(3*delayInterval)); d != 0 {
		t.Errorf("a standing delay not renewed for 3 intervals: %v, want 0", d)
	}
}

// TestRxTimestamp reads SCM_TIMESTAMPNS out of a control-message buffer
// holding another message first, and rejects truncated ones.
func TestRxTimestamp(t *testing.T) {
	msg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, 16+len(data))
		ne := nativeEndianForTest()
		ne.PutUint64(b[0:8], uint64(16+len(data)))
		ne.PutUint32(b[8:12], uint32(level))
		ne.PutUint32(b[12:16], uint32(typ))
		copy(b[16:], data)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		return b
	}
	ts := make([]byte, 16)
	nativeEndianForTest().PutUint64(ts[0:8], 1765000000)
	nativeEndianForTest().PutUint64(ts[8:16], 123456789)
	oob := append(msg(0, 8, []byte{1, 2, 3, 4}), msg(1 /* SOL_SOCKET */, 35 /* SCM_TIMESTAMPNS */, ts)...)
	got, ok := rxTimestamp(oob)
	if want := int64(1765000000)*1e9 + 123456789; !ok || got != want {
		t.Errorf("got %d %v, want %d", got, ok, want)
	}
	if _, ok := rxTimestamp(oob[:len(oob)-8]); ok {
		t.Error("a truncated message was read")
	}
}

func nativeEndianForTest() interface {
	PutUint64([]byte, uint64)
	PutUint32([]byte, uint32)
} {
	return binary.NativeEndian
}
