package mysql

import (
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
