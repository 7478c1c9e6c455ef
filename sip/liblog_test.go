package sip

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestDemoteBenign: the known-benign sipgo lines reach the next handler
// at Debug, or not at all when it logs at Info; the others keep their
// level.
func TestDemoteBenign(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level // of the next handler
		msg       string
		wantLevel string // "" when nothing is logged
	}{
		{"tcp ref at info", slog.LevelInfo, "TCP ref went negative", ""},
		{"tcp ref at debug", slog.LevelDebug, "TCP ref went negative", "DEBUG"},
		{"udp ref at debug", slog.LevelDebug, "UDP ref went negative on try close", "DEBUG"},
		{"ws ref at info", slog.LevelInfo, "WS ref went negative", ""},
		{"other warn", slog.LevelInfo, "TCP transport closed", "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(demoteBenign(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))).With("caller", "TransportLayer")
			log.Warn(tt.msg, "ref", -1)
			if tt.wantLevel == "" {
				if buf.Len() != 0 {
					t.Fatalf("got %q, want nothing", buf.String())
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %q", err, buf.String())
			}
			if got["level"] != tt.wantLevel || got["msg"] != tt.msg || got["caller"] != "TransportLayer" || got["ref"] != float64(-1) {
				t.Errorf("got %v, want level %s, msg %q, caller and ref kept", got, tt.wantLevel, tt.msg)
			}
		})
	}
}

// TestLibraryLogger: sipgo's package-level logger writes through the
// logger SetLibraryLogger set, in its format, Warn and above, with
// component=sipgo, the benign lines at Debug.
func TestLibraryLogger(t *testing.T) {
	var info, debug syncBuf
	t.Cleanup(func() { SetLibraryLogger(nil) })

	SetLibraryLogger(slog.New(slog.NewJSONHandler(&info, &slog.HandlerOptions{Level: slog.LevelInfo})))
	lib := sipmsg.DefaultLogger().With("caller", "TransportLayer")
	lib.Info("Unhandled sip request. OnRequest handler not added")
	lib.Warn("TCP ref went negative", "ip", "127.0.0.1:5060", "ref", -1)
	lib.Error("something went wrong", "data", strings.Repeat("x", 1000))
	lines := info.lines()
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (the Error): %q", len(lines), lines)
	}
	want := map[string]any{"level": "ERROR", "msg": "something went wrong", "component": "sipgo", "caller": "TransportLayer"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s: got %v, want %v", k, lines[0][k], v)
		}
	}
	if _, ok := lines[0]["data"]; ok {
		t.Error("data attribute kept")
	}

	SetLibraryLogger(slog.New(slog.NewJSONHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})))
	sipmsg.DefaultLogger().Warn("TCP ref went negative", "ref", -1)
	lines = debug.lines()
	if len(lines) != 1 || lines[0]["level"] != "DEBUG" || lines[0]["msg"] != "TCP ref went negative" {
		t.Fatalf("got %v, want the ref line at DEBUG", lines)
	}
}

// TestServerLibHandlerDemotes: a Server's own sipgo logger demotes the
// benign lines too, before its rate limiter counts them.
func TestServerLibHandlerDemotes(t *testing.T) {
	var buf syncBuf
	m := newMetrics(nil)
	base := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	in := newInputLog(slog.New(base), m)
	log := slog.New(in.handler(base))
	log.Warn("TCP ref went negative", "ref", -1)
	log.Warn("TCP ref went negative", "ref", -2)
	log.Warn("a real warning")
	lines := buf.lines()
	if len(lines) != 1 || lines[0]["msg"] != "a real warning" {
		t.Fatalf("got %v, want only the real warning", lines)
	}
	if n := counterValue(m.logSuppressed); n != 0 {
		t.Errorf("suppressed: got %v, want 0", n)
	}
}

// syncBuf is a bytes.Buffer of JSON lines, safe for concurrent writes.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err == nil {
			out = append(out, m)
		}
	}
	return out
}
