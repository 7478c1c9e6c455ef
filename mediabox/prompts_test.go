package mediabox_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
)

func TestDefaultPromptsLoadAndSound(t *testing.T) {
	p, err := mediabox.LoadPrompts(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ivr-5000", "vm-greeting", "moh", "beep", "digit-7"} {
		if !p.Has(name) || p.Duration(name) < 200e6 {
			t.Errorf("prompt %s: %v, %s", name, p.Has(name), p.Duration(name))
		}
	}
}

func TestSitePrompts(t *testing.T) {
	tone := mediabox.EncodeWAV(mediaboxtest.Tone(440, 1e9))
	stereo := bytes.Clone(tone)
	stereo[22] = 2 // channels
	p, err := mediabox.LoadPrompts(fstest.MapFS{"welcome.wav": {Data: tone}, "goodbye.wav": {Data: tone}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has("welcome") || p.Duration("goodbye").Seconds() != 1 {
		t.Errorf("site prompts not loaded over the defaults: %v %s", p.Has("welcome"), p.Duration("goodbye"))
	}
	for name, data := range map[string][]byte{
		"stereo.wav": stereo,
		"empty.wav":  {},
		"text.wav":   []byte("hello, not a wav file"),
		"cut.wav":    tone[:30],
	} {
		_, err := mediabox.LoadPrompts(fstest.MapFS{name: {Data: data}})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

func TestWAVRoundTrip(t *testing.T) {
	pcm := mediaboxtest.Tone(300, 5e8)
	got, err := mediabox.DecodeWAV(mediabox.EncodeWAV(pcm))
	if err != nil || !bytes.Equal(got, pcm) {
		t.Fatalf("round trip: %v, %d bytes of %d", err, len(got), len(pcm))
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(mediabox.EncodeWAV(mediaboxtest.Tone(440, 1e8)))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := mediabox.DecodeWAV(data)
		if err == nil && (len(pcm) == 0 || len(pcm)%2 != 0) {
			t.Fatalf("accepted %d bytes of samples", len(pcm))
		}
	})
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"transfer:5002", "menu:sub", "voicemail:5002", "queue:5000", "repeat", "hangup", "menu:", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := mediabox.ParseAction(s)
		if err != nil {
			return
		}
		b, err := mediabox.ParseAction(a.String())
		if err != nil || b != a {
			t.Fatalf("%q: %+v does not survive its own written form (%+v, %v)", s, a, b, err)
		}
	})
}

// TestCheckData: a menu's prompt or a queue's music missing from the
// prompt set is named, before any call meets it.
func TestCheckData(t *testing.T) {
	p, err := mediabox.LoadPrompts(nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]mediabox.Action{"1": {Kind: mediabox.Hangup}}
	if err := p.CheckMenu(mediabox.Menu{ID: "a", Prompt: "ivr-5000", Keys: keys}); err != nil {
		t.Error(err)
	}
	if err := p.CheckMenu(mediabox.Menu{ID: "b", Prompt: "closed", Keys: keys}); err == nil || !strings.Contains(err.Error(), `"closed"`) {
		t.Errorf("missing menu prompt: %v", err)
	}
	if err := p.CheckQueue(mediabox.Queue{ID: "q", Music: "jazz"}); err == nil || !strings.Contains(err.Error(), "default music") {
		t.Errorf("missing music: %v", err)
	}
	if err := p.CheckQueue(mediabox.Queue{ID: "q"}); err != nil {
		t.Error(err)
	}
}
