package sip

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestRouteSignatureSpellsNoHeaderName: the signature in our Record-Route
// is lowercase hex, so that no header name can appear in it. With
// base64url one call in about 10^5 failed in SIPp, which finds CSeq by
// searching the message for "CSeq" and found it in "pr=XSvd5xxW1kCSeqhZ".
func TestRouteSignatureSpellsNoHeaderName(t *testing.T) {
	s := newRouteSigner([]byte("a secret of the cluster"))
	// Every header name of more than one letter has a letter past f.
	hexRe := regexp.MustCompile(`^[0-9a-f]{24}$`)
	for i := 0; i < 20000; i++ {
		sig := s.sign(fmt.Sprintf("%d-bench@127.0.0.1", i), fmt.Sprintf("%dc%d", i, i))
		if !hexRe.MatchString(sig) {
			t.Fatalf("signature %q is not 24 lowercase hex digits", sig)
		}
	}
}

func TestRouteSignatureVerify(t *testing.T) {
	s := newRouteSigner([]byte("a secret of the cluster"))
	const callID, tag = "3870-28782@127.0.0.1", "28782c3870"
	sig := s.sign(callID, tag)
	raw, err := hex.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	legacy := base64.RawURLEncoding.EncodeToString(raw)
	flip := func(s string) string { // the last digit changed
		b := []byte(s)
		if b[len(b)-1] == '0' {
			b[len(b)-1] = '1'
		} else {
			b[len(b)-1] = '0'
		}
		return string(b)
	}
	tests := []struct {
		name, sig, callID, tag string
		want                   bool
	}{
		{"hex", sig, callID, tag, true},
		{"hex in upper case", strings.ToUpper(sig), callID, tag, true},
		{"base64url of an older release", legacy, callID, tag, true},
		{"another Call-ID", sig, "other@127.0.0.1", tag, false},
		{"another tag", sig, callID, "other", false},
		{"one digit changed", flip(sig), callID, tag, false},
		{"older form, one character changed", flip(legacy), callID, tag, false},
		{"not hex", strings.Repeat("g", 24), callID, tag, false},
		{"too short", sig[:22], callID, tag, false},
		{"too long", sig + "00", callID, tag, false},
		{"empty", "", callID, tag, false},
		{"another secret", newRouteSigner([]byte("another secret")).sign(callID, tag), callID, tag, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.verify(tt.sig, tt.callID, tt.tag); got != tt.want {
				t.Errorf("verify(%q) = %v, want %v", tt.sig, got, tt.want)
			}
		})
	}
}

// FuzzRouteSignatureVerify: verify reads a parameter anybody can write;
// it never panics and takes nothing but the dialog's own MAC.
func FuzzRouteSignatureVerify(f *testing.F) {
	s := newRouteSigner([]byte("a secret of the cluster"))
	const callID, tag = "c@h", "t"
	good := s.sign(callID, tag)
	raw, _ := hex.DecodeString(good)
	for _, seed := range []string{good, strings.ToUpper(good), base64.RawURLEncoding.EncodeToString(raw), "", "AAAAAAAAAAAAAAAA", strings.Repeat("z", 24)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, sig string) {
		if !s.verify(sig, callID, tag) {
			return
		}
		var got []byte
		if b, err := hex.DecodeString(sig); err == nil {
			got = b
		} else if b, err := base64.RawURLEncoding.DecodeString(sig); err == nil {
			got = b
		}
		if string(got) != string(raw) {
			t.Fatalf("verify took %q, which is not the dialog's MAC", sig)
		}
	})
}
