package presence_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/presence"
)

// TestMessageSummary: a phone subscribes to its voicemail lamp (RFC 3842),
// gets the mailbox's state at once and a NOTIFY when the counts change
// (not when they are set again unchanged), the body naming the account;
// a dialog event of the AOR does not reach it.
func TestMessageSummary(t *testing.T) {
	rg := newRig(t, presence.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rg.pres.SetMailbox(presence.Mailbox{User: "5002", Domain: domain, New: 0, Old: 3})
	sub, res, err := rg.phone("5002").Subscribe(ctx, "sip:5002@"+domain, presence.MessageSummary, 3600)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("SUBSCRIBE: %v %v", res, err)
	}
	first, err := sub.WaitNotify(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	body := string(first.Body())
	if ct := first.GetHeader("Content-Type"); ct == nil || ct.Value() != presence.MessageSummaryType ||
		!strings.Contains(body, "Messages-Waiting: no\r\n") || !strings.Contains(body, "Voice-Message: 0/3 (0/0)") ||
		!strings.Contains(body, "Message-Account: sip:5002@"+domain) {
		t.Fatalf("first NOTIFY: %v\n%s", ct, body)
	}
	if ev := first.GetHeader("Event"); ev == nil || ev.Value() != presence.MessageSummary {
		t.Errorf("Event: %v", ev)
	}
	rg.pres.SetMailbox(presence.Mailbox{User: "5002", Domain: domain, New: 0, Old: 3}) // unchanged: no NOTIFY
	rg.pres.SetMailbox(presence.Mailbox{User: "5002", Domain: domain, New: 2, Old: 3})
	second, err := sub.WaitNotify(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if b := string(second.Body()); !strings.Contains(b, "Messages-Waiting: yes\r\n") || !strings.Contains(b, "Voice-Message: 2/3 (0/0)") {
		t.Fatalf("second NOTIFY:\n%s", b)
	}
	// A call to 5002 changes its dialogs, not its mailbox.
	rg.phone("5002")
	call, err := rg.phone("5001").Invite(ctx, "sip:5002@"+domain)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.WaitCode(ctx, 200); err != nil {
		t.Fatal(err)
	}
	call.Bye(ctx)
	time.Sleep(100 * time.Millisecond)
	if n := len(sub.Notifies()); n != 2 {
		t.Errorf("%d NOTIFYs, want 2 (an unchanged mailbox and a call send none)", n)
	}

	// A store read back (what a change of palio_mwi does).
	boxes := presence.NewMemMailboxes()
	if err := boxes.PutMailbox(ctx, presence.Mailbox{User: "5002", Domain: domain, New: 0, Old: 5}); err != nil {
		t.Fatal(err)
	}
	if err := boxes.PutMailbox(ctx, presence.Mailbox{User: "5002", Domain: domain, New: -1}); err == nil {
		t.Error("negative counts stored")
	}
	if _, err := rg.pres.ReloadMailboxes(ctx, boxes); err != nil {
		t.Fatal(err)
	}
	third, err := sub.WaitNotify(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if b := string(third.Body()); !strings.Contains(b, "Messages-Waiting: no") || !strings.Contains(b, "0/5") {
		t.Errorf("after the reload:\n%s", b)
	}
}
