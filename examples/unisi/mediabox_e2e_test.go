package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"github.com/palio-voip/palio/sip/siptest"
)

// The media boxes of these tests use 26000-26999 (below the kernel's
// ephemeral ports, which diago's port scan trips on), set before any test
// phone (diago keeps the range process-wide, read unsynchronised).
const boxPortMin, boxPortMax = 26000, 26999

func init() { mediabox.SetRTPPorts(boxPortMin, boxPortMax) }

// mediaBoxExample is a node running its media box on a port of its own:
// the seed's media gateway and its trusted address are moved there
// before the server starts.
func mediaBoxExample(t *testing.T, extra string) (e *example, spool string) {
	t.Helper()
	boxPort := freePort(t, "udp")
	spool = filepath.Join(t.TempDir(), "voicemail")
	lo := 29000 + 2*rand.IntN(1400)
	e = newExample(t, fmt.Sprintf("[log]\nlevel = \"warn\"\n[store]\npoll = \"100ms\"\n[routing]\nprobe_interval = \"0s\"\n"+
		"[media]\nport_min = %d\nport_max = %d\n"+
		"[mediabox]\nenabled = true\nlisten = \"127.0.0.1:%d\"\nspool = %q\nport_min = %d\nport_max = %d\n%s",
		lo, lo+99, boxPort, spool, boxPortMin, boxPortMax, extra))
	box := "127.0.0.1:" + strconv.Itoa(boxPort)
	e.cli(0, "gateway", "set-address", "media-asterisk", box)
	id := e.row("tag", "media-asterisk", "address", "list")["id"]
	e.cli(0, "address", "del", id)
	e.cli(0, "address", "add", "3", "127.0.0.1", "-port", strconv.Itoa(boxPort), "-tag", "media-box")
	return e, spool
}

// registered is a media phone for an account, its contact in the
// location table (added before the server starts).
func registered(t *testing.T, e *example, user string) *mediaboxtest.Phone {
	t.Helper()
	p := mediaboxtest.NewPhone(t, user)
	p.Password, p.Domain = "unisi"+user, "voip.unisi.it"
	e.cli(0, "location", "add", user, "sip:"+user+"@"+p.Addr)
	return p
}

// TestMediaBoxNumbers calls each media number of the seed through the
// router: the IVR (5000) with a transfer, the queue behind its key 1,
// a voicemail left for 5002 (its lamp lights), 5002's voicemail menu
// (*98, the lamp goes out), an agent's log-out (*46) and log-in (*45),
// and the fax (5500, refused).
func TestMediaBoxNumbers(t *testing.T) {
	e, _ := mediaBoxExample(t, "")
	caller := registered(t, e, "5001")
	agent2 := registered(t, e, "5002")
	agent3 := registered(t, e, "5003")
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()
	ctx := ctxT(t, 3*time.Minute)
	uri := func(n string) string { return "sip:" + n + "@" + e.addr }

	t.Run("IVR transfer", func(t *testing.T) {
		leg, err := caller.Call(ctx, uri("5000"))
		if err != nil {
			t.Fatalf("5000: %v\n%s", err, tail(e.stderr.String(), 20))
		}
		defer leg.Hangup()
		if err := leg.WaitSound(10 * time.Second); err != nil {
			t.Fatalf("the menu's prompt: %v", err)
		}
		if err := leg.Press("2"); err != nil {
			t.Fatal(err)
		}
		in, err := agent2.Arrived(20 * time.Second)
		if err != nil {
			t.Fatalf("%v\n%s", err, tail(e.stderr.String(), 20))
		}
		if in.From != "5001" {
			t.Errorf("5002 sees the call from %q, want 5001", in.From)
		}
		before := len(leg.Heard())
		go in.Speak(440, 2*time.Second)
		time.Sleep(1500 * time.Millisecond)
		if rms := mediaboxtest.RMS(leg.Heard()[before:]); rms < 300 {
			t.Errorf("the caller hears 5002 at RMS %.0f, want the tone", rms)
		}
		leg.Hangup()
		select {
		case <-in.Done():
		case <-time.After(30 * time.Second):
			t.Errorf("5002's leg outlived the caller's\n%s", tail(e.stderr.String(), 30))
		}
	})

	// A queue call through the router, ended by either side: the other
	// side's leg follows.
	for _, agentHangsUp := range []bool{false, true} {
		name := "queue, caller hangs up"
		if agentHangsUp {
			name = "queue, agent hangs up"
		}
		t.Run(name, func(t *testing.T) {
			agent2.SetAnswer(func(string) bool { return false }) // busy
			defer agent2.SetAnswer(nil)
			leg, err := caller.Call(ctx, uri("5000"))
			if err != nil {
				t.Fatal(err)
			}
			defer leg.Hangup()
			if err := leg.WaitSound(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := leg.Press("1"); err != nil {
				t.Fatal(err)
			}
			in, err := agent3.Arrived(30 * time.Second)
			if err != nil {
				t.Fatalf("%v\n%s", err, tail(e.stderr.String(), 20))
			}
			if in.From != "5001" {
				t.Errorf("the agent sees the call from %q, want 5001", in.From)
			}
			// At once, maybe before the ring-all round has ended (5002's
			// busy can come after 5003's answer).
			first, other := leg, in
			if agentHangsUp {
				first, other = in, leg
			}
			first.Hangup()
			select {
			case <-other.Done():
			case <-time.After(30 * time.Second):
				t.Errorf("one leg outlived the other\n%s", tail(e.stderr.String(), 30))
			}
		})
	}

	// The lamp's watcher subscribes without registering: a registered
	// UA would take 5002's calls.
	watcher := siptest.NewUA(t, siptest.WithUser("5002"), siptest.WithProxy(e.addr), siptest.WithCredentials("5002", "unisi5002"))
	sub, res, err := watcher.Subscribe(ctx, "sip:5002@voip.unisi.it", "message-summary", 600)
	if err != nil || res.StatusCode >= 300 {
		t.Fatalf("SUBSCRIBE: %v %v", res, err)
	}
	if _, err := sub.WaitNotify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitLamp := func(t *testing.T, want string) {
		t.Helper()
		for n := len(sub.Notifies()); ; n++ {
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			req, err := sub.WaitNotify(wctx, n)
			cancel()
			if err != nil {
				t.Fatalf("no NOTIFY with %q: %v", want, err)
			}
			if strings.Contains(string(req.Body()), want) {
				return
			}
		}
	}

	t.Run("voicemail", func(t *testing.T) {
		leg, err := caller.Call(ctx, uri("VM_5002"))
		if err != nil {
			t.Fatal(err)
		}
		if err := leg.WaitSound(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := leg.Silence(1500*time.Millisecond, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := leg.Speak(500, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		leg.Hangup()
		waitLamp(t, "Voice-Message: 1/0")
		if out := e.cli(0, "voicemail", "show", "5002"); !strings.Contains(out, "5001") {
			t.Errorf("voicemail show 5002 lists no message from 5001:\n%s", out)
		}
	})

	t.Run("voicemail menu", func(t *testing.T) {
		leg, err := agent2.Call(ctx, uri("*98"))
		if err != nil {
			t.Fatal(err)
		}
		defer leg.Hangup()
		if err := leg.WaitSound(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := leg.Press("1234#"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := leg.Press("1"); err != nil {
			t.Fatal(err)
		}
		waitLamp(t, "Voice-Message: 0/1")
	})

	t.Run("busy to voicemail", func(t *testing.T) {
		// 5002's call services send its busy calls to its mailbox.
		reloads := func() float64 { return scrapeMetrics(t, e.http)[`palio_features_reloads_total{result="ok"}`] }
		before := reloads()
		e.cli(0, "feature", "set", "5002", "forward-busy", "VM_5002")
		for deadline := time.Now().Add(5 * time.Second); reloads() == before; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the server did not reload the call services")
			}
		}
		agent2.SetAnswer(func(string) bool { return false })
		defer agent2.SetAnswer(nil)
		leg, err := caller.Call(ctx, uri("5002"))
		if err != nil {
			t.Fatalf("5002 busy, forwarded: %v\n%s", err, tail(e.stderr.String(), 20))
		}
		if err := leg.WaitSound(10 * time.Second); err != nil {
			t.Fatalf("%v\n%s", err, tail(e.stderr.String(), 40))
		}
		if err := leg.Silence(1500*time.Millisecond, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := leg.Speak(500, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		leg.Hangup()
		waitLamp(t, "Voice-Message: 1/1")
	})

	// An agent's feature codes: *46<queue> logs out, *45<queue> back in
	// (the dialplan turns them into AGENTOUT_/AGENTIN_ for the box).
	for _, tc := range []struct{ name, dial, want string }{
		{"agent log-out", "*465000", "5002    logged-out"},
		{"agent log-in", "*455000", "5002    logged-in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leg, err := agent2.Call(ctx, uri(tc.dial))
			if err != nil {
				t.Fatalf("%s: %v\n%s", tc.dial, err, tail(e.stderr.String(), 20))
			}
			if err := leg.WaitSound(10 * time.Second); err != nil {
				t.Errorf("%s: the box's answer: %v", tc.dial, err)
			}
			select {
			case <-leg.Done():
			case <-time.After(20 * time.Second):
				t.Fatal("the box did not hang up")
			}
			leg.Hangup()
			if out := e.cli(0, "queue", "show", "5000"); !strings.Contains(out, tc.want) {
				t.Errorf("after %s, want %q:\n%s", tc.dial, tc.want, out)
			}
		})
	}

	t.Run("fax refused", func(t *testing.T) {
		_, err := caller.Call(ctx, uri("5500"))
		var de *sipgo.ErrDialogResponse
		if !errors.As(err, &de) || de.Res.StatusCode != 488 {
			t.Fatalf("5500: %v, want 488", err)
		}
		m := scrapeMetrics(t, e.http)
		if n := m[`palio_mediabox_refused_total{reason="fax"}`]; n != 1 {
			t.Errorf("fax refusals: %v", n)
		}
	})
}

// TestBaresipMediaBox: a real baresip phone calls 5000, hears the menu
// (its decoded audio is not silence), presses 9 (RFC 2833, baresip's
// sndcode) and leaves 5002 a voicemail: the stored message holds
// baresip's 1000 Hz tone, and 5002's lamp counts it.
func TestBaresipMediaBox(t *testing.T) {
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed (apt-get install baresip-core); .ci/run installs it")
	}
	if _, err := os.Stat(filepath.Join(baresipModules, "ausine.so")); err != nil {
		t.Skipf("baresip's modules are not in %s: %v", baresipModules, err)
	}
	e, spool := mediaBoxExample(t, "")
	e.start()
	caller := startBaresip(t, "caller", "5001", 1000, e.addr, false)
	caller.waitOutput("5001@voip.unisi.it: {0/UDP/v4} 200 OK", 5*time.Second, e)
	caller.command("dial", "sip:5000@voip.unisi.it")
	caller.waitOutput("Call established", 10*time.Second, e)
	caller.waitOutput("incoming rtp for 'audio' established", 5*time.Second, e)
	time.Sleep(2 * time.Second) // some of the menu's prompt
	caller.command("sndcode", "9")
	// The greeting (8 s), the tone, then 3 s of baresip's own tone.
	time.Sleep(12 * time.Second)
	caller.command("hangup", "")
	caller.waitOutput(" terminated (duration:", 5*time.Second, e)
	caller.quit()

	rate, heard := caller.recording()
	if r := analyseTone(heard, rate, 440, 1000); r.loud < 5 {
		t.Errorf("baresip heard %s: want the menu and the greeting", r)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(e.cli(0, "voicemail", "show", "5002"), "5001"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no message from 5001 in 5002's mailbox:\n%s\n%s", tail(caller.out.String(), 40), tail(e.stderr.String(), 20))
		}
	}
	files, _ := filepath.Glob(filepath.Join(spool, "5002", "msg-*.wav"))
	if len(files) != 1 {
		t.Fatalf("spool holds %v, want one message", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	rate, samples, err := readWAV(data)
	if err != nil {
		t.Fatal(err)
	}
	if r := analyseTone(samples, rate, 1000, 600); r.tone < 1.5 {
		t.Errorf("the message holds %s: want baresip's 1000 Hz tone", r)
	}
}
