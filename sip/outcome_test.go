package sip_test

import (
	"errors"
	"testing"

	"github.com/palio-voip/palio/sip"
)

func TestResponseRank(t *testing.T) {
	// Each code is better than every code after it (RFC 3261 §16.7 step 6).
	order := []int{603, 302, 407, 486, 430, 500, 503}
	for i := range order {
		for _, worse := range order[i+1:] {
			if !sip.Better(sip.Reject(order[i], ""), sip.Reject(worse, "")) {
				t.Errorf("%d is not better than %d", order[i], worse)
			}
			if sip.Better(sip.Reject(worse, ""), sip.Reject(order[i], "")) {
				t.Errorf("%d is better than %d", worse, order[i])
			}
		}
	}
	if !sip.Better(sip.Reject(503, ""), nil) {
		t.Error("an outcome is not better than none")
	}
}

func TestStatusSet(t *testing.T) {
	if _, err := sip.NewStatusSet(99); err == nil {
		t.Error("99 accepted")
	}
	if _, err := sip.NewStatusSet(700); err == nil {
		t.Error("700 accepted")
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"answered", nil, false},
		{"silent gateway", sip.Reject(408, ""), true},
		{"unreachable", sip.Reject(503, ""), true},
		{"busy", sip.Reject(486, ""), false},
		{"not implemented", sip.Reject(501, ""), false},
		{"global failure", sip.Reject(603, ""), false},
		{"any other error is a 500", errors.New("database down"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sip.DefaultFailover.FailsOver(tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := sip.DefaultFailover.Codes(); len(got) != 5 {
		t.Errorf("DefaultFailover: got %v", got)
	}
}

func TestURITransport(t *testing.T) {
	tests := []struct {
		uri, transport, addr string
	}{
		{"sip:5002@10.0.0.2", "UDP", "10.0.0.2:5060"},
		{"sip:5002@10.0.0.2;transport=tcp", "TCP", "10.0.0.2:5060"},
		{"sips:5002@10.0.0.2", "TLS", "10.0.0.2:5061"},
		{"sips:5002@10.0.0.2;transport=tcp", "TLS", "10.0.0.2:5061"},
		{"sip:5002@10.0.0.2;transport=ws", "WS", "10.0.0.2:80"},
		{"sips:5002@[2001:db8::1];transport=ws", "WSS", "[2001:db8::1]:443"},
		{"sip:gw@198.51.100.1:5080", "UDP", "198.51.100.1:5080"},
	}
	for _, tt := range tests {
		u, err := sip.ParseURI(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		if got := sip.URITransport(&u); got != tt.transport {
			t.Errorf("URITransport(%s): got %s, want %s", tt.uri, got, tt.transport)
		}
		if got := sip.URIAddr(&u, ""); got != tt.addr {
			t.Errorf("URIAddr(%s): got %s, want %s", tt.uri, got, tt.addr)
		}
	}
}
