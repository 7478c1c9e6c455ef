package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBaresip: two real SIP phones, baresip, register with digest
// authentication to the example (5002 and 5003 of the seed), and 5002
// calls 5003 through it with every call's media anchored on the example's
// relay ([media] policy "always"). Each phone sends a sine tone of its own
// (5002 1000 Hz, 5003 600 Hz) and records what it decodes from the other;
// after the hang-up each recording must hold the other's tone, for more
// than a second and nothing else. The SDP each phone got names the relay,
// not the other phone, and the relay's metrics count the rewritten SDP and
// the relayed RTP, its session gone after the BYE.
func TestBaresip(t *testing.T) {
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed (apt-get install baresip-core); .ci/run installs it")
	}
	if _, err := os.Stat(filepath.Join(baresipModules, "ausine.so")); err != nil {
		t.Skipf("baresip's modules are not in %s: %v", baresipModules, err)
	}
	lo := 29000 + 2*rand.IntN(1400) // clear of other relays a test machine may run on 20000+
	hi := lo + 99
	e := newExample(t, fmt.Sprintf("[log]\nlevel = \"warn\"\n[routing]\nprobe_interval = \"0s\"\n"+
		"[media]\npolicy = \"always\"\nport_min = %d\nport_max = %d\n", lo, hi))
	e.http = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	e.start()

	const callerTone, calleeTone = 1000, 600
	callee := startBaresip(t, "callee", "5003", calleeTone, e.addr, true)
	caller := startBaresip(t, "caller", "5002", callerTone, e.addr, false)
	callee.waitOutput("5003@voip.unisi.it: {0/UDP/v4} 200 OK", 5*time.Second, e)
	caller.waitOutput("5002@voip.unisi.it: {0/UDP/v4} 200 OK", 5*time.Second, e)

	caller.command("dial", "sip:5003@voip.unisi.it")
	caller.waitOutput("Call established", 10*time.Second, e)
	callee.waitOutput("Call established", 5*time.Second, e)
	// Both ends must decode the other's audio before the talk time counts.
	caller.waitOutput("incoming rtp for 'audio' established", 5*time.Second, e)
	callee.waitOutput("incoming rtp for 'audio' established", 5*time.Second, e)
	time.Sleep(3 * time.Second) // the talk time: what the recordings must hold
	caller.command("hangup", "")
	caller.waitOutput(" terminated (duration:", 5*time.Second, e)
	callee.waitOutput(" terminated (duration:", 5*time.Second, e) // the BYE went through the proxy
	caller.quit()
	callee.quit()

	// Both authenticated with digest: challenged on REGISTER, the caller
	// on its INVITE too.
	for _, c := range []struct {
		a    *baresipAgent
		want []string
	}{{callee, []string{"SIP/2.0 401 "}}, {caller, []string{"SIP/2.0 401 ", "SIP/2.0 407 "}}} {
		for _, w := range c.want {
			if !strings.Contains(c.a.out.String(), w) {
				t.Errorf("%s was never challenged (%q in its SIP trace)", c.a.name, w)
			}
		}
	}

	// The media went through the relay: each phone was given a relay port,
	// never the other's own.
	for _, p := range []struct{ a, other *baresipAgent }{{caller, callee}, {callee, caller}} {
		sent, got := p.a.sdpPorts()
		if len(got) == 0 || len(sent) == 0 {
			t.Fatalf("%s: no SDP sent (%v) or received (%v) in its SIP trace:\n%s", p.a.name, sent, got, tail(p.a.out.String(), 80))
		}
		t.Logf("%s: SDP sent with RTP ports %v, received with %v", p.a.name, sent, got)
		otherSent, _ := p.other.sdpPorts()
		for _, port := range got {
			if port < lo || port > hi {
				t.Errorf("%s was given RTP port %d, outside the relay's %d-%d", p.a.name, port, lo, hi)
			}
			for _, o := range otherSent {
				if port == o {
					t.Errorf("%s was given %d, the %s's own RTP port", p.a.name, port, p.other.name)
				}
			}
		}
	}
	m := scrapeMetrics(t, e.http)
	if n := m[`palio_mediabridge_calls_total{decision="mandatory"}`]; n != 1 {
		t.Errorf("calls anchored mandatorily: %v, want 1", n)
	}
	if n := m[`palio_mediabridge_sdp_total{outcome="rewritten"}`]; n < 2 {
		t.Errorf("SDP bodies rewritten: %v, want the offer and the answer at least", n)
	}
	if n := m[`palio_mediabridge_sdp_total{outcome="refused"}`] + m[`palio_mediabridge_sdp_total{outcome="passed"}`]; n != 0 {
		t.Errorf("SDP bodies refused or passed unchanged: %v, want 0", n)
	}
	// 3 s each way at 50 packets a second.
	if n := m[`palio_mediabridge_packets_total{kind="rtp"}`]; n < 200 {
		t.Errorf("RTP packets relayed: %v, want at least 200", n)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if m["palio_mediabridge_sessions"] == 0 && m["palio_mediabridge_ports_in_use"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after the BYE the relay still has %v sessions, %v ports", m["palio_mediabridge_sessions"], m["palio_mediabridge_ports_in_use"])
			break
		}
		time.Sleep(50 * time.Millisecond)
		m = scrapeMetrics(t, e.http)
	}

	// What each phone decoded is the other's tone.
	for _, c := range []struct {
		a          *baresipAgent
		want, not  float64
		wantSender string
	}{{callee, callerTone, calleeTone, "caller"}, {caller, calleeTone, callerTone, "callee"}} {
		rate, samples := c.a.recording()
		r := analyseTone(samples, rate, c.want, c.not)
		t.Logf("%s heard %s", c.a.name, r)
		if least := 1.5; r.tone < least {
			t.Errorf("%s: %.2f s of the %s's %v Hz tone in its recording, want at least %v s (%s)", c.a.name, r.tone, c.wantSender, c.want, least, r)
		}
		if r.loud > 0 && r.tone/r.loud < 0.9 {
			t.Errorf("%s: only %.2f s of %.2f s of sound is the %v Hz tone (%s)", c.a.name, r.tone, r.loud, c.want, r)
		}
		if r.rms < 1000 {
			t.Errorf("%s: the recording's RMS is %.0f, want a tone well above silence", c.a.name, r.rms)
		}
	}
	if t.Failed() {
		t.Logf("caller:\n%s\ncallee:\n%s\nserver:\n%s", tail(caller.out.String(), 60), tail(callee.out.String(), 60), tail(e.stderr.String(), 30))
	}
}

// baresipModules is where Debian's baresip package puts its modules.
const baresipModules = "/usr/lib/baresip/modules"

// baresipAgent is one baresip process with a configuration directory of
// its own: account user registered through the proxy, ausine's tone as
// its microphone, sndfile recording the audio it sends and decodes, no
// sound card (aubridge as the loudspeaker), driven over ctrl_tcp. Its
// stdout holds the SIP trace (-s) and the call's progress.
type baresipAgent struct {
	t    *testing.T
	name string
	dir  string
	rec  string
	sip  string // where it listens for SIP
	out  *syncBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	ctrl net.Conn
	rd   *bufio.Reader
	seq  int
}

// startBaresip starts a phone registering user (password "unisi"+user)
// through proxy, sending a tone of freq Hz, answering calls itself if
// autoAnswer. The process is killed when the test ends if it still runs.
// Its ports were free when picked; if another process took one since,
// it starts again on others.
func startBaresip(t *testing.T, name, user string, freq int, proxy string, autoAnswer bool) *baresipAgent {
	t.Helper()
	for attempt := 1; ; attempt++ {
		a, err := launchBaresip(t, name, user, freq, proxy, autoAnswer)
		if err == nil {
			return a
		}
		if attempt < 3 && strings.Contains(strings.ToLower(a.out.String()), "address already in use") {
			continue
		}
		t.Fatalf("%s: %v\n%s", name, err, a.out.String())
	}
}

// launchBaresip is one attempt of startBaresip: an error if baresip
// exited or did not open its control port.
func launchBaresip(t *testing.T, name, user string, freq int, proxy string, autoAnswer bool) (*baresipAgent, error) {
	t.Helper()
	dir := t.TempDir()
	a := &baresipAgent{t: t, name: name, dir: dir, rec: filepath.Join(dir, "rec"), out: &syncBuffer{}, done: make(chan struct{})}
	if err := os.Mkdir(a.rec, 0o755); err != nil {
		t.Fatal(err)
	}
	a.sip = "127.0.0.1:" + strconv.Itoa(baresipPort(t))
	ctrl := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	// No sound card: aubridge stands in for the loudspeaker (nothing reads
	// it), ausine for the microphone (it wants 48 kHz stereo; baresip
	// resamples for G.711). RTP ports below the relay's range, so that a
	// port in that range in the SDP a phone gets can only be the relay's.
	config := fmt.Sprintf(`poll_method		epoll
sip_listen		%s
net_interface		127.0.0.1
rtp_ports		10000-19999
audio_player		aubridge,%s-play
audio_alert		aubridge,%s-alert
audio_source		ausine,%d
ausrc_srate		48000
ausrc_channels		2
module_path		%s
module			g711.so
module			ausine.so
module			aubridge.so
module			sndfile.so
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
snd_path		%s
ctrl_tcp_listen		%s
`, a.sip, name, name, freq, baresipModules, a.rec, ctrl)
	account := fmt.Sprintf("<sip:%s@voip.unisi.it>;auth_pass=unisi%s;outbound=\"sip:%s\";regint=600", user, user, proxy)
	if autoAnswer {
		account += ";answermode=auto"
	}
	for file, body := range map[string]string{"config": config, "accounts": account + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// -s: the SIP trace on stdout. -t: the process ends by itself even if
	// the test binary dies.
	a.cmd = exec.Command("baresip", "-f", dir, "-s", "-t", "60")
	a.cmd.Dir = dir
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		if a.ctrl != nil {
			a.ctrl.Close()
		}
		a.cmd.Process.Kill()
		<-a.done
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.DialTimeout("tcp", ctrl, time.Second)
		if err == nil {
			a.ctrl, a.rd = c, bufio.NewReader(c)
			return a, nil
		}
		select {
		case <-a.done:
			return a, fmt.Errorf("baresip exited: %v", a.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return a, fmt.Errorf("no ctrl_tcp on %s: %v", ctrl, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// command runs a baresip command (the menu's long names: dial, hangup,
// quit) over ctrl_tcp and fails the test unless baresip accepts it.
func (a *baresipAgent) command(cmd, params string) {
	a.t.Helper()
	a.seq++
	token := strconv.Itoa(a.seq)
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": token})
	a.ctrl.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(a.ctrl, "%d:%s,", len(msg), msg); err != nil {
		a.t.Fatalf("%s: %s: %v", a.name, cmd, err)
	}
	for {
		body, err := readNetstring(a.rd)
		if err != nil {
			if cmd == "quit" && errors.Is(err, io.EOF) {
				return // gone before it answered
			}
			a.t.Fatalf("%s: %s: %v\n%s", a.name, cmd, err, tail(a.out.String(), 40))
		}
		var res struct {
			Response bool   `json:"response"`
			OK       bool   `json:"ok"`
			Data     string `json:"data"`
			Token    string `json:"token"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			a.t.Fatalf("%s: %s: %v: %s", a.name, cmd, err, body)
		}
		if !res.Response || res.Token != token {
			continue // an event
		}
		if !res.OK {
			a.t.Fatalf("%s: %s %s refused: %s\n%s", a.name, cmd, params, res.Data, tail(a.out.String(), 40))
		}
		return
	}
}

// readNetstring reads one netstring ("len:data,"), ctrl_tcp's framing.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(head[:len(head)-1])
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("netstring not ended by a comma: %q", buf)
	}
	return buf[:n], nil
}

// waitOutput polls the phone's output until it holds s, failing the test
// after timeout.
func (a *baresipAgent) waitOutput(s string, timeout time.Duration, e *example) {
	a.t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(a.out.String(), s); {
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: no %q after %v:\n%s\nserver:\n%s", a.name, s, timeout, tail(a.out.String(), 60), tail(e.stderr.String(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quit asks baresip to exit and waits until it has (its recordings are
// then closed), killing it after a few seconds.
func (a *baresipAgent) quit() {
	a.t.Helper()
	a.command("quit", "")
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Errorf("%s: baresip did not quit:\n%s", a.name, tail(a.out.String(), 40))
	}
}

// sdpPorts returns the m=audio ports of the SDP bodies in the phone's SIP
// trace: those of the messages it sent, and those it received.
func (a *baresipAgent) sdpPorts() (sent, got []int) {
	var dir *[]int
	for _, line := range strings.Split(a.out.String(), "\n") {
		if m := baresipTrace.FindStringSubmatch(line); m != nil {
			switch a.sip {
			case m[1]:
				dir = &sent
			case m[2]:
				dir = &got
			default:
				dir = nil
			}
		}
		if m := sdpAudio.FindStringSubmatch(line); m != nil && dir != nil {
			port, _ := strconv.Atoi(m[1])
			*dir = append(*dir, port)
		}
	}
	return sent, got
}

var (
	// The head of a message in baresip's SIP trace: "UDP from -> to".
	baresipTrace = regexp.MustCompile(`^(?:UDP|TCP) (\S+) -> (\S+)\s*$`)
	sdpAudio     = regexp.MustCompile(`^m=audio (\d+) `)
)

// recording returns the sample rate and the samples of the audio the
// phone decoded in its call: sndfile's dump-*-dec.wav.
func (a *baresipAgent) recording() (rate int, samples []int16) {
	a.t.Helper()
	files, _ := filepath.Glob(filepath.Join(a.rec, "*-dec.wav"))
	if len(files) != 1 {
		a.t.Fatalf("%s: want one recording of the received audio, got %v", a.name, files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		a.t.Fatal(err)
	}
	rate, samples, err = readWAV(data)
	if err != nil {
		a.t.Fatalf("%s: %s: %v", a.name, files[0], err)
	}
	return rate, samples
}

// readWAV decodes a mono 16-bit PCM WAV file. A data chunk whose size
// runs past the end (a file not closed) is read to the end.
func readWAV(b []byte) (rate int, samples []int16, err error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, nil, errors.New("not a RIFF WAVE file")
	}
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		p += 8
		if size > len(b)-p {
			size = len(b) - p
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return 0, nil, errors.New("short fmt chunk")
			}
			format, channels := binary.LittleEndian.Uint16(b[p:]), binary.LittleEndian.Uint16(b[p+2:])
			rate = int(binary.LittleEndian.Uint32(b[p+4:]))
			if bits := binary.LittleEndian.Uint16(b[p+14:]); format != 1 || channels != 1 || bits != 16 {
				return 0, nil, fmt.Errorf("format %d, %d channels, %d bits: want PCM, mono, 16 bits", format, channels, bits)
			}
		case "data":
			if rate == 0 {
				return 0, nil, errors.New("data before fmt")
			}
			for i := p; i+2 <= p+size; i += 2 {
				samples = append(samples, int16(binary.LittleEndian.Uint16(b[i:])))
			}
			return rate, samples, nil
		}
		p += size + size&1
	}
	return 0, nil, errors.New("no data chunk")
}

// toneReport sums up a recording: its length, its RMS, how long it is
// loud (20 ms blocks with an RMS above silence) and how long it holds
// the tone looked for (loud blocks nearly all of whose energy is at that
// frequency and almost none at the other one).
type toneReport struct {
	total, loud, tone float64 // seconds
	rms               float64
}

func (r toneReport) String() string {
	return fmt.Sprintf("%.2f s recorded, RMS %.0f, %.2f s loud, %.2f s of the tone", r.total, r.rms, r.loud, r.tone)
}

// analyseTone measures in 20 ms blocks, with Goertzel's algorithm, how
// much of the signal is a tone of freq Hz rather than one of not Hz.
func analyseTone(x []int16, rate int, freq, not float64) toneReport {
	var r toneReport
	if rate <= 0 || len(x) == 0 {
		return r
	}
	r.total = float64(len(x)) / float64(rate)
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	r.rms = math.Sqrt(sum / float64(len(x)))
	n := rate / 50
	block := float64(n) / float64(rate)
	for i := 0; i+n <= len(x); i += n {
		b := x[i : i+n]
		var energy float64
		for _, v := range b {
			energy += float64(v) * float64(v)
		}
		if math.Sqrt(energy/float64(n)) < 300 {
			continue
		}
		r.loud += block
		// The share of the block's energy at a frequency: 1 for a pure
		// tone on a bin of the block's DFT (both tones are: 50 Hz apart).
		share := func(f float64) float64 { return 2 * goertzel(b, rate, f) / (float64(n) * energy) }
		if share(freq) > 0.8 && share(not) < 0.05 {
			r.tone += block
		}
	}
	return r
}

// goertzel returns |X(f)|², the power of x at frequency f.
func goertzel(x []int16, rate int, f float64) float64 {
	c := 2 * math.Cos(2*math.Pi*f/float64(rate))
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// baresipPort returns a port P of 127.0.0.1 free for UDP and TCP, with
// P+1 free for TCP: baresip's sip_listen binds UDP and TCP on P and its
// SIP/TLS listener on P+1, and a port free for UDP alone once collided
// with another test's TCP socket on P+1 ("sock_bind: Address already in
// use", baresip exiting).
func baresipPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		p := freePort(t, "udp")
		free := true
		for _, q := range []int{p, p + 1} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return p
		}
	}
	t.Fatal("no port P with UDP P, TCP P and TCP P+1 free")
	return 0
}
