package mysql

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestCheckDSN(t *testing.T) {
	tests := []struct {
		dsn     string
		wantErr string
	}{
		{"root@tcp(127.0.0.1:3306)/palio", ""},
		{"root@tcp(127.0.0.1:3306)/palio?parseTime=true&charset=utf8mb4", ""},
		{"root@tcp(127.0.0.1:3306)/palio?parseTime=false", "parseTime"},
		{"root@tcp(127.0.0.1:3306)/palio?charset=latin1", "utf8mb4"},
		{"root@tcp(127.0.0.1:3306)/", "names no database"},
		{"not a dsn", "bad DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := checkDSN(tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.ParseTime || !strings.Contains(cfg.FormatDSN(), "charset=utf8mb4") {
				t.Errorf("got %s, want parseTime and utf8mb4", cfg.FormatDSN())
			}
		})
	}
	if d, err := WithDatabase("root@tcp(127.0.0.1:3306)/test?parseTime=true", "other"); err != nil || !strings.Contains(d, "/other?") {
		t.Errorf("WithDatabase: got %q %v", d, err)
	}
}

// TestDriverLog: the driver's lines go to the slog logger, the idle
// connection closes at Debug and the rest at Warn.
func TestDriverLog(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level // of the handler
		args      []any
		wantLevel string // "" when nothing is logged
		wantMsg   string
	}{
		{"idle close hidden at info", slog.LevelInfo, []any{"closing bad idle connection: ", errors.New("EOF")}, "", ""},
		{"idle close at debug", slog.LevelDebug, []any{"closing bad idle connection: ", errors.New("EOF")}, "DEBUG", "mysql: driver: closing bad idle connection: EOF"},
		{"other at warn", slog.LevelInfo, []any{"packets.go:58 unexpected EOF"}, "WARN", "mysql: driver: packets.go:58 unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			driverLog{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))}.Print(tt.args...)
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
			if got["level"] != tt.wantLevel || got["msg"] != tt.wantMsg || got["component"] != "mysql" {
				t.Errorf("got %v, want %s %q component=mysql", got, tt.wantLevel, tt.wantMsg)
			}
		})
	}
}
