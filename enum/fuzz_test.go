package enum

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// regexpSeeds are NAPTR regexp fields in presentation form: valid ones
// and ones every part of the parser must refuse. The committed corpus in
// testdata/fuzz/FuzzRegexp adds more.
var regexpSeeds = []string{
	`!^.*$!sip:info@unisi.test!`,
	`!^\\+39(.*)$!sip:\\1@gw.unisi.test!`,
	`!^\\+(39)(0577)(.*)$!sip:\\3@\\2.\\1.test!i`,
	`/^\\+39\\/?(.*)$/sip:\\1@t/`,
	`\033^.*$\033sip:ddd@t\033`,
	`§^\\+39(.*)$§sip:\\1@t§`,
	`!^(.*$!sip:x@t!`,
	`!^(.*)$!sip:\\2@t!`,
	`!^.*$!sip:x@t\\`,
	`!^.*$!sip:x@t!\`,
	`!^.*$!sip:\999@t!`,
	`!(a{1000}){1000}!x!`,
	"\xff^.*$\xffsip:x@t\xff",
	``,
	`!`,
	`!!!`,
}

// FuzzRegexp feeds arbitrary regexp fields and strings to the parser and
// the substitution: they must never panic, errors must say where they
// come from, and a parsed rule must behave the same on every use.
func FuzzRegexp(f *testing.F) {
	for _, s := range regexpSeeds {
		f.Add(s, "+390577232111")
	}
	f.Fuzz(func(t *testing.T, field, aus string) {
		r, err := parseRegexp(field)
		if err != nil {
			if r != nil {
				t.Fatalf("parseRegexp(%q): got a rule and error %v", field, err)
			}
			if !strings.HasPrefix(err.Error(), "enum: regexp ") {
				t.Fatalf("parseRegexp(%q): error %q lacks its prefix", field, err)
			}
			return
		}
		out1, ok1 := r.apply(aus)
		out2, ok2 := r.apply(aus)
		if out1 != out2 || ok1 != ok2 {
			t.Fatalf("apply(%q) twice: got %q, %v then %q, %v", aus, out1, ok1, out2, ok2)
		}
		if !ok1 && out1 != "" {
			t.Fatalf("apply(%q): no match but output %q", aus, out1)
		}
	})
}

// FuzzPresentation checks unescape against miekg/dns itself: any bytes put
// on the wire as a NAPTR regexp come back, once miekg/dns has turned them
// into presentation form and unescape has undone that, unchanged.
func FuzzPresentation(f *testing.F) {
	for _, s := range regexpSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte{0, 1, '\\', '"', 0x7f, 0xff, ' '})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 255 {
			return // one character-string
		}
		var ddd strings.Builder // every byte as \DDD, so miekg/dns packs it as is
		for _, b := range raw {
			fmt.Fprintf(&ddd, `\%03d`, b)
		}
		m := new(dns.Msg)
		m.SetQuestion("1.e164.arpa.", dns.TypeNAPTR)
		m.Answer = []dns.RR{&dns.NAPTR{
			Hdr:    dns.RR_Header{Name: "1.e164.arpa.", Rrtype: dns.TypeNAPTR, Class: dns.ClassINET, Ttl: 60},
			Flags:  "u",
			Regexp: ddd.String(), Replacement: ".",
		}}
		wire, err := m.Pack()
		if err != nil {
			t.Fatalf("pack: %v", err)
		}
		var back dns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		field := back.Answer[0].(*dns.NAPTR).Regexp
		got, err := unescape(field)
		if err != nil {
			t.Fatalf("unescape(%q): %v", field, err)
		}
		if !bytes.Equal([]byte(got), raw) {
			t.Fatalf("unescape(%q): got %q, want %q", field, got, raw)
		}
	})
}
