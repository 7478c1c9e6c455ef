package registrar_test

import (
	"context"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

const fuzzSeed = "REGISTER sip:voip.unisi.it SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:5002@voip.unisi.it>;tag=1928301774\r\n" +
	"To: <sip:5002@voip.unisi.it>\r\n" +
	"Call-ID: a84b4c76e66710\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"Contact: <sip:5002@10.0.0.5:5060>;expires=120;q=0.5\r\n" +
	"Contact: <sip:5002@10.0.0.5:5062;transport=tcp>\r\n" +
	"Expires: 3600\r\n" +
	"Content-Length: 0\r\n\r\n"

// FuzzRegister feeds arbitrary messages to the registrar and the Lookup
// stage. With mode bit 0 set, a REGISTER is given valid credentials for
// its To user first, so that the fuzzer gets past authentication to the
// Contact, Expires and CSeq rules; otherwise the Authorization headers are
// the fuzzer's. Whatever the input, the registrar must not panic, must
// answer only 200 itself, and must return a StatusError of 400..699 for
// anything else (a memory store never fails).
func FuzzRegister(f *testing.F) {
	f.Add(byte(1), []byte(fuzzSeed))
	f.Add(byte(1), []byte(strings.Replace(fuzzSeed, "Contact: <sip:5002@10.0.0.5:5060>;expires=120;q=0.5\r\nContact: <sip:5002@10.0.0.5:5062;transport=tcp>\r\nExpires: 3600", "Contact: *\r\nExpires: 0", 1)))
	f.Add(byte(1), []byte(strings.Replace(fuzzSeed, "Expires: 3600", "Expires: 99999999999999999999999", 1)))
	f.Add(byte(1), []byte(strings.Replace(fuzzSeed, ";expires=120;q=0.5", ";expires=0;q=1.000", 1)))
	f.Add(byte(0), []byte(strings.Replace(fuzzSeed, "Expires: 3600", `Authorization: Digest username="5002", realm="voip.unisi.it", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:voip.unisi.it", response="00", qop=auth, nc=00000001, cnonce="x"`, 1)))
	f.Add(byte(0), []byte(strings.Replace(fuzzSeed, "REGISTER", "INVITE", -1)))
	f.Fuzz(func(t *testing.T, mode byte, raw []byte) {
		msg, err := sipmsg.ParseMessage(raw)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("10.0.0.5:5060")
		req.SetTransport("UDP")
		ctx := context.Background()
		store := registrar.NewMemStore()
		reg, err := registrar.New(registrar.Config{MaxContacts: 3, Algorithms: []string{"MD5", "SHA-256"}}, store, store,
			registrar.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		if mode&1 == 1 && req.Method == sip.REGISTER && req.To() != nil && req.To().Address.User != "" {
			realm := strings.ToLower(req.To().Address.Host)
			store.AddSubscriber(ctx, registrar.NewSubscriber(req.To().Address.User, realm, "secret"))
			_, err := siptest.Serve(ctx, reg, req)
			if c := challengeOf(err, "MD5"); c != nil {
				cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:" + realm,
					Username: req.To().Address.User, Password: "secret"})
				if err == nil {
					req.AppendHeader(sipmsg.NewHeader("Authorization", cred.String()))
				}
			}
		}
		rec, err := siptest.Serve(ctx, reg, req)
		if err == nil {
			if rec.Status() != 200 {
				t.Fatalf("nil outcome with status %d", rec.Status())
			}
			for _, h := range rec.Responses()[0].GetHeaders("Contact") {
				if !strings.Contains(h.Value(), ";expires=") {
					t.Fatalf("200 Contact without expires: %q", h.Value())
				}
			}
		} else {
			se, ok := sip.AsStatus(err)
			if !ok || se.Code < 400 || se.Code > 699 {
				t.Fatalf("outcome %v: want a StatusError of 400..699", err)
			}
			if rec.Status() != 0 {
				t.Fatalf("outcome %v after writing %d", err, rec.Status())
			}
		}
		next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
			if len(sip.TargetsFrom(ctx)) == 0 {
				t.Fatal("Lookup passed the request on without targets")
			}
			return w.WriteResponse(sip.NewResponse(r, 200, ""))
		})
		if rec, err := siptest.Serve(ctx, reg.Lookup(next), req); err != nil && sip.StatusOf(err) != 404 {
			t.Fatalf("Lookup: got %v (status %d), want 200 or 404", err, rec.Status())
		}
	})
}
