package sip_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// TestUnparsableRequestAnswered: a request the parser refuses (here a CSeq
// whose number is not one) is answered 400 Bad Request from the raw
// message, on sipgo's path (INVITE) and on the stateless one (REGISTER,
// served by the workers or on the read loop), with the Vias, From,
// Call-ID and CSeq as they came and a To tag added; an ACK is not
// answered; no handler sees any of them.
func TestUnparsableRequestAnswered(t *testing.T) {
	leakCheck(t)
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			var calls atomic.Int64
			srv, err := sip.NewServer(sip.Config{
				Listen:          []sip.Listen{{Network: "udp", Addr: "127.0.0.1:0"}},
				InlineStateless: inline,
			}, sip.WithLogger(testLogger()))
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
				calls.Add(1)
				return w.WriteResponse(sip.NewResponse(r, 200, "OK"))
			})); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			u := newRawUDP(t, srv.Local().Addr("udp"))
			req := func(method, id string) string {
				return fmt.Sprintf("%s sip:5002@127.0.0.1 SIP/2.0\n"+
					"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\n"+
					"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-below\n"+
					"Max-Forwards: 70\n"+
					"f: <sip:5001@127.0.0.1>;tag=a1\n"+
					"To: <sip:5002@127.0.0.1>\n"+
					"Call-ID: %s\n"+
					"CSeq: x%s %s\n"+
					"Content-Length: 0\n\n", method, u.port(), id, id, id, method)
			}
			for _, method := range []string{"INVITE", "REGISTER", "OPTIONS"} {
				id := "unparsable-" + strings.ToLower(method)
				u.send(req(method, id))
				res := u.read(2 * time.Second)
				if !strings.HasPrefix(res, "SIP/2.0 400 Bad Request\r\n") {
					t.Fatalf("%s with a bad CSeq: got %q, want 400 Bad Request", method, firstLine(res))
				}
				for _, want := range []string{
					fmt.Sprintf("\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-below\r\n", u.port(), id),
					"\r\nFrom: <sip:5001@127.0.0.1>;tag=a1\r\n",
					"\r\nCall-ID: " + id + "\r\n",
					"\r\nCSeq: x" + id + " " + method + "\r\n",
				} {
					if !strings.Contains(res, want) {
						t.Errorf("%s: the 400 lacks %q:\n%s", method, want, res)
					}
				}
				if !regexp.MustCompile(`\r\nTo: <sip:5002@127\.0\.0\.1>;tag=[0-9a-z]+\r\n`).MatchString(res) {
					t.Errorf("%s: the 400's To has no tag of ours:\n%s", method, res)
				}
			}
			u.send(req("ACK", "unparsable-ack"))
			if res := u.read(300 * time.Millisecond); res != "" {
				t.Errorf("ACK with a bad CSeq: got %q, want no answer", firstLine(res))
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("the handler saw %d unparsable requests", n)
			}
		})
	}
}
