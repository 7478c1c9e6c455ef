package mediabox_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"github.com/palio-voip/palio/presence"
)

// smtpSink is a minimal SMTP server on loopback that keeps each message.
type smtpSink struct {
	ln   net.Listener
	msgs chan []byte
	rcpt chan string
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln, msgs: make(chan []byte, 4), rcpt: make(chan string, 4)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.session(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return s
}

func (s *smtpSink) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(l string) { io.WriteString(c, l+"\r\n") }
	say("220 sink ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			s.rcpt <- strings.Trim(strings.TrimSpace(line)[8:], "<>")
			say("250 ok")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go on")
			var msg []byte
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg = append(msg, strings.TrimPrefix(l, ".")...)
			}
			s.msgs <- msg
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// TestVoicemailEmail: a message left in a mailbox with an address goes
// out by SMTP with the recording attached as a WAV.
func TestVoicemailEmail(t *testing.T) {
	t.Parallel()
	sink := newSMTPSink(t)
	r := newRig(t, func(c *mediabox.Config) {
		c.SMTP = mediabox.SMTPConfig{Addr: sink.ln.Addr().String(), From: "voicemail@unisi.example"}
	})
	caller := mediaboxtest.NewPhone(t, "5001")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leg, err := caller.Call(ctx, r.uri("VM_5002"))
	if err != nil {
		t.Fatal(err)
	}
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Silence(1500*time.Millisecond, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Speak(700, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Press("#"); err != nil { // ends the recording; the box says saved
		t.Fatal(err)
	}
	r.mwi.wait(t, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 1})
	select {
	case to := <-sink.rcpt:
		if to != "5002@unisi.example" {
			t.Errorf("mail to %q", to)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no mail")
	}
	raw := <-sink.msgs
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if subj := m.Header.Get("Subject"); !strings.Contains(subj, "5001") {
		t.Errorf("subject %q does not name the caller", subj)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var wav []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Type") == "audio/wav" {
			wav, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	pcm, err := mediabox.DecodeWAV(wav)
	if err != nil {
		t.Fatalf("attachment: %v", err)
	}
	if rms := mediaboxtest.RMS(pcm); rms < 1000 {
		t.Errorf("attached recording RMS %.0f: want the caller's tone", rms)
	}
	// The caller heard "saved" and the box hung up.
	select {
	case <-leg.Done():
	case <-time.After(15 * time.Second):
		t.Error("the box did not hang up after the message")
	}
	leg.Hangup()
}
