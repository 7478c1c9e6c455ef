package sip

import (
	"strings"
	"testing"
)

func TestUpgradeOrigin(t *testing.T) {
	tests := []struct {
		name, req, want string
	}{
		{"present", "GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://phone.unisi.it\r\n\r\n", "https://phone.unisi.it"},
		{"any case, spaces", "GET / HTTP/1.1\r\norigin:   https://a.example  \r\n\r\n", "https://a.example"},
		{"absent", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"after the header is not a header", "GET / HTTP/1.1\r\n\r\nOrigin: https://evil\r\n", ""},
		{"bare LF", "GET / HTTP/1.1\nOrigin: https://lf.example\n\n", "https://lf.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upgradeOrigin([]byte(tt.req)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzUpgradeOrigin(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nOrigin: https://phone.unisi.it\r\n\r\n"))
	f.Add([]byte("Origin:\n"))
	f.Add([]byte("\r\n"))
	f.Fuzz(func(t *testing.T, req []byte) {
		got := upgradeOrigin(req)
		if got != strings.TrimSpace(got) {
			t.Fatalf("origin %q not trimmed", got)
		}
		if strings.Contains(got, "\n") {
			t.Fatalf("origin %q spans lines", got)
		}
	})
}
