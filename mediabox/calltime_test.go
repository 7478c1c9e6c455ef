package mediabox_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"github.com/palio-voip/palio/presence"
)

// Tones that mark what a caller hears: site prompts made of them, and
// what the callers speak. None of them is in the default prompts or the
// music (the menu prompt is 400 Hz, the default greeting 350 Hz).
const (
	subMenuHz  = 600
	digit1Hz   = 800
	digit2Hz   = 1000
	greetingHz = 700
	speechHz   = 500
)

// withPrompts adds site prompts (each a second of a tone) to the rig's.
func withPrompts(tones map[string]float64) func(*mediabox.Config) {
	return func(c *mediabox.Config) {
		fs := fstest.MapFS{}
		for name, f := range c.Prompts.(fstest.MapFS) {
			fs[name] = f
		}
		for name, hz := range tones {
			fs[name+".wav"] = &fstest.MapFile{Data: mediabox.EncodeWAV(mediaboxtest.Tone(hz, time.Second))}
		}
		c.Prompts = fs
	}
}

// heardTone is how much of hz leg heard from mark on (a length of Heard).
func heardTone(leg *mediaboxtest.Leg, mark int, hz float64) time.Duration {
	return mediaboxtest.ToneTime(leg.Heard()[mark:], hz)
}

// TestIVRSubMenuAndRepeat: key 3 of menu 5000 leads to a sub-menu (its
// own prompt heard), whose key 0 repeats it (the sub-menu's prompt
// again, not the main menu's) and whose key 2 transfers.
func TestIVRSubMenuAndRepeat(t *testing.T) {
	t.Parallel()
	r := newRig(t, withPrompts(map[string]float64{"sub": subMenuHz}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	main, err := r.store.Menu(ctx, "5000")
	if err != nil {
		t.Fatal(err)
	}
	main.Keys["3"] = mediabox.Action{Kind: mediabox.GoMenu, Arg: "sub"}
	for _, m := range []mediabox.Menu{main, {ID: "sub", Prompt: "sub", Timeout: 3 * time.Second, Retries: 1, Keys: map[string]mediabox.Action{
		"0": {Kind: mediabox.Repeat},
		"2": {Kind: mediabox.Transfer, Arg: "5003"},
	}}} {
		if err := r.store.PutMenu(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	caller := mediaboxtest.NewPhone(t, "5001")
	leg, err := caller.Call(ctx, r.uri("IVR_5000"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// press presses key once the prompt playing has ended, and returns
	// the mark from which what follows is heard.
	press := func(key string) int {
		t.Helper()
		if err := leg.Silence(500*time.Millisecond, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		mark := len(leg.Heard())
		if err := leg.Press(key); err != nil {
			t.Fatal(err)
		}
		return mark
	}
	for _, step := range []string{"3: the sub-menu", "0: repeat"} {
		key := step[:1]
		mark := press(key)
		// Wait for the prompt rather than a fixed time: on a loaded
		// machine the audio may come late, and what matters is which
		// prompt comes, not when.
		deadline := time.Now().Add(15 * time.Second)
		for heardTone(leg, mark, subMenuHz) < 600*time.Millisecond && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := heardTone(leg, mark, subMenuHz); got < 600*time.Millisecond {
			t.Fatalf("key %s: heard %s of the sub-menu's prompt in 15 s, want about 1s", step, got)
		}
		if got := heardTone(leg, mark, 400); got > 100*time.Millisecond {
			t.Fatalf("key %s: heard %s of the main menu's prompt, want none", step, got)
		}
	}
	press("2")
	agent, err := r.router.Arrived(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if agent.To != "5003" {
		t.Errorf("transferred to %s, want 5003 (the sub-menu's key 2)", agent.To)
	}
	agent.Hangup()
	waitCalls(t, r.box, 0)
}

// TestVoicemailRecordedGreeting: the owner records a greeting (key 0 of
// the voicemail menu); the next caller to VM_5002 hears it, not the
// default greeting.
func TestVoicemailRecordedGreeting(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	owner := mediaboxtest.NewPhone(t, "5002")
	leg, err := owner.Call(ctx, r.uri(mediabox.VoicemailMenu))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Press("1234#"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := leg.Press("0"); err != nil { // record the greeting
		t.Fatal(err)
	}
	// "Record your greeting after the tone", the tone, then speak.
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Silence(1500*time.Millisecond, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Speak(greetingHz, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Press("#"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		box, err := r.store.Mailbox(ctx, "5002")
		if err != nil {
			t.Fatal(err)
		}
		if box.Greeting != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mailbox has no recorded greeting")
		}
	}
	leg.Hangup()

	caller := mediaboxtest.NewPhone(t, "5001")
	leg, err = caller.Call(ctx, r.uri("VM_5002"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	time.Sleep(2500 * time.Millisecond)
	if got := heardTone(leg, 0, greetingHz); got < 1200*time.Millisecond {
		t.Errorf("the caller heard %s of the recorded greeting (2s of %d Hz)", got, greetingHz)
	}
	if got := heardTone(leg, 0, 350); got > 100*time.Millisecond {
		t.Errorf("the caller heard %s of the default greeting, want none", got)
	}
	leg.Hangup()
	waitCalls(t, r.box, 0)
}

// TestVoicemailMaxMessage: a caller speaking for 12 s into a box whose
// messages are bounded at 5 s leaves a message of 5 s, and the box ends
// the recording (and the call) itself.
func TestVoicemailMaxMessage(t *testing.T) {
	t.Parallel()
	const max = 5 * time.Second
	r := newRig(t, func(c *mediabox.Config) { c.MaxMessage = max })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller := mediaboxtest.NewPhone(t, "5001")
	leg, err := caller.Call(ctx, r.uri("VM_5002"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Speaking from the greeting on, through the tone, so that the
	// recording gets audio from its first moment.
	spoke := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(spoke)
		_ = leg.Speak(speechHz, 12*time.Second) // cut short by the box's hang-up
	}()
	defer func() { <-spoke }()
	select {
	case <-leg.Done(): // "saved", goodbye
	case <-time.After(20 * time.Second):
		t.Fatal("the box did not end the recording at its bound")
	}
	if d := time.Since(start); d > 11*time.Second {
		t.Errorf("the box hung up %s after the caller began 12 s of speech, want once 5 s were recorded", d.Round(time.Millisecond))
	}
	r.mwi.wait(t, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 1})
	msgs, err := r.store.Messages(ctx, "5002")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages %+v, %v: want one", msgs, err)
	}
	if d := msgs[0].Duration; d > max || d < max-300*time.Millisecond {
		t.Errorf("message of %s, want %s (the bound)", d, max)
	}
	data, err := os.ReadFile(filepath.Join(r.spool, "5002", msgs[0].File))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := mediabox.DecodeWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(len(pcm)/2) * time.Second / 8000; d > max {
		t.Errorf("the WAV holds %s, more than the bound %s", d, max)
	}
	waitCalls(t, r.box, 0)
}

// TestVoicemailListenPlaysTheMessage: what the owner hears when
// listening to a message (and to its replay, key 1) is the caller's
// tone.
func TestVoicemailListenPlaysTheMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	caller := mediaboxtest.NewPhone(t, "5001")
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
	if err := leg.Speak(speechHz, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	leg.Hangup()
	r.mwi.wait(t, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", New: 1})

	owner := mediaboxtest.NewPhone(t, "5002")
	leg, err = owner.Call(ctx, r.uri(mediabox.VoicemailMenu))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup()
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leg.Press("1234#"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	mark := len(leg.Heard())
	if err := leg.Press("1"); err != nil { // listen
		t.Fatal(err)
	}
	// Marked heard once played through.
	r.mwi.wait(t, presence.Mailbox{User: "5002", Domain: "voip.unisi.it", Old: 1})
	if got := heardTone(leg, mark, speechHz); got < 1500*time.Millisecond {
		t.Fatalf("the owner heard %s of the message's 2s of %d Hz", got, speechHz)
	}
	// The message's menu: 1 plays it again.
	mark = len(leg.Heard())
	if err := leg.Press("1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if got := heardTone(leg, mark, speechHz); got < 1500*time.Millisecond {
		t.Fatalf("the replay held %s of the message's 2s of %d Hz", got, speechHz)
	}
	leg.Hangup()
	waitCalls(t, r.box, 0)
}

// TestQueuePositionAndMusic: with no agent logged in, a second caller
// in a queue that announces positions hears "2" (its digit prompt, not
// "1"), then music on hold, not silence.
func TestQueuePositionAndMusic(t *testing.T) {
	t.Parallel()
	r := newRig(t, withPrompts(map[string]float64{"digit-1": digit1Hz, "digit-2": digit2Hz}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.store.PutQueue(ctx, mediabox.Queue{ID: "pos", AnnouncePosition: true, MaxWait: 40 * time.Second,
		Members: []mediabox.Member{{Number: "5002"}}}); err != nil {
		t.Fatal(err)
	}
	first := mediaboxtest.NewPhone(t, "5001")
	leg1, err := first.Call(ctx, r.uri("QUEUE_pos"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg1.Hangup()
	for deadline := time.Now().Add(5 * time.Second); r.box.Waiting("pos") != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first caller is not waiting")
		}
	}
	second := mediaboxtest.NewPhone(t, "5004")
	leg2, err := second.Call(ctx, r.uri("QUEUE_pos"))
	if err != nil {
		t.Fatal(err)
	}
	defer leg2.Hangup()
	// Hold message (3.3 s), "your position is" (0.8 s), the digit (1 s),
	// then music: 4 s of it.
	time.Sleep(9 * time.Second)
	heard := leg2.Heard()
	if got := mediaboxtest.ToneTime(heard, digit2Hz); got < 600*time.Millisecond {
		t.Errorf("the second caller heard %s of position 2", got)
	}
	if got := mediaboxtest.ToneTime(heard, digit1Hz); got > 100*time.Millisecond {
		t.Errorf("the second caller heard %s of position 1, want none", got)
	}
	if got := mediaboxtest.ToneTime(leg1.Heard(), digit1Hz); got < 600*time.Millisecond {
		t.Errorf("the first caller heard %s of position 1", got)
	}
	const window = 3 * 8000 * 2 // the last 3 s: music
	if len(heard) < window {
		t.Fatalf("the second caller heard %d bytes in 9 s", len(heard))
	}
	if rms := mediaboxtest.RMS(heard[len(heard)-window:]); rms < 300 {
		t.Errorf("music on hold at RMS %.0f: silence", rms)
	}
	leg1.Hangup()
	leg2.Hangup()
	waitCalls(t, r.box, 0)
	if n := r.box.Waiting("pos"); n != 0 {
		t.Errorf("%d callers still waiting", n)
	}
}
