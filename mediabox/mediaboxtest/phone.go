package mediaboxtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/internal/sipclose"
)

// Phone is a test telephone with real media, on diago: it places calls,
// hears what the far end plays (kept as 16-bit PCM), presses keys (RFC
// 2833) and speaks a tone; it can also answer calls. It listens on UDP
// on loopback.
type Phone struct {
	t    testing.TB
	User string
	Addr string // host:port it listens on

	dg     *diago.Diago
	ua     *sipgo.UserAgent
	cancel context.CancelFunc
	served <-chan error  // diago's Serve ended: the listener's reader stopped
	gate   sipclose.Gate // the listener's, shut by Close
	done   chan struct{}

	mu       sync.Mutex
	incoming []*Leg
	arrived  chan *Leg
	answer   func(ruri string) bool
	hold     func(ruri string) <-chan struct{}
	// Password, when set, answers a proxy's digest challenge to the
	// phone's INVITEs as User; Domain is the From host (default
	// 127.0.0.1).
	Password, Domain string
}

// FreeUDPPort returns a loopback UDP port free at the time of the call.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// NewPhone starts a phone for user on a free loopback port; t's cleanup
// stops it.
func NewPhone(t testing.TB, user string) *Phone {
	t.Helper()
	port := FreeUDPPort(t)
	p := &Phone{t: t, User: user, Addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), arrived: make(chan *Leg, 16)}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(user),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerReadFilter(p.gate.Filter)))
	if err != nil {
		t.Fatal(err)
	}
	p.ua = ua
	p.dg = diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	// diago's Serve returns once the listener's reader has stopped:
	// Close waits for that.
	served := make(chan error, 1)
	p.served = served
	go func() {
		served <- p.dg.Serve(ctx, p.serve)
		close(served) // a second Close does not wait
	}()
	if err := mediabox.WaitListening(context.Background(), ua, p.Addr); err != nil {
		cancel()
		t.Fatalf("phone %s: %v (serve: %v)", user, err, <-served)
	}
	t.Cleanup(p.Close)
	return p
}

// Close hangs up and stops the phone.
func (p *Phone) Close() {
	// BYEs first, while the listener is open: sent after it closed,
	// sipgo would bind a fresh socket to the phone's port for them.
	p.mu.Lock()
	legs := p.incoming
	p.mu.Unlock()
	for _, l := range legs {
		l.Hangup()
	}
	// Then take the listener down, leaving sipgo no way to open a socket
	// for a late answer or request (the box's BYE read as the listener
	// closes, say: sipclose).
	p.gate.Close(p.ua, p.Addr, func() { p.cancel(); <-p.served })
}

// SetAnswer says, for each call arriving from now on, whether the phone
// answers it (false: 486 Busy Here); nil answers every call.
func (p *Phone) SetAnswer(f func(ruri string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = f
}

// SetHold says, for each call arriving from now on, how long the phone
// holds it before sending any response, not even a 180: until the
// returned channel is closed (nil: not at all). A caller cannot CANCEL
// a call held so (RFC 3261 §9.1), as with a slow or far next hop.
func (p *Phone) SetHold(f func(ruri string) <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = f
}

func (p *Phone) serve(d *diago.DialogServerSession) {
	p.mu.Lock()
	answer, hold := p.answer, p.hold
	p.mu.Unlock()
	if hold != nil {
		if gate := hold(d.InviteRequest.Recipient.User); gate != nil {
			select {
			case <-gate:
			case <-d.Context().Done():
				return
			}
		}
	}
	if answer != nil && !answer(d.InviteRequest.Recipient.User) {
		_ = d.Respond(sipmsg.StatusBusyHere, "Busy Here", nil)
		return
	}
	_ = d.Ringing()
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		return
	}
	l := newLeg(med, d.Context(), func(ctx context.Context) error { return d.Hangup(ctx) })
	l.From = d.InviteRequest.From().Address.User
	l.To = d.InviteRequest.Recipient.User
	p.mu.Lock()
	p.incoming = append(p.incoming, l)
	p.mu.Unlock()
	select {
	case p.arrived <- l:
	default:
	}
	<-d.Context().Done()
	<-l.readDone
}

// Arrived waits up to timeout for a call the phone answered.
func (p *Phone) Arrived(timeout time.Duration) (*Leg, error) {
	select {
	case l := <-p.arrived:
		return l, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("phone %s: no call within %s", p.User, timeout)
	}
}

// Call calls uri (sip:USER@HOST:PORT) from the phone and waits for the
// answer.
func (p *Phone) Call(ctx context.Context, uri string) (*Leg, error) {
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &ruri); err != nil {
		return nil, err
	}
	d, err := p.dg.NewDialog(ruri, diago.NewDialogOptions{})
	if err != nil {
		return nil, err
	}
	opts := diago.InviteClientOptions{Username: p.User, Password: p.Password}
	host := p.Domain
	if host == "" {
		host = "127.0.0.1"
	}
	opts.WithCaller("", p.User, host)
	med, err := d.Invite(ctx, opts)
	if err == nil {
		err = d.Ack(ctx)
	}
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	return newLeg(med, d.Context(), func(ctx context.Context) error {
		defer d.Close()
		return d.Hangup(ctx)
	}), nil
}

// Leg is one answered call of a phone.
type Leg struct {
	From string // the caller (for a call the phone answered)
	To   string // the Request-URI user (for a call the phone answered)

	med      *diago.DialogMedia
	ctx      context.Context
	hangup   func(context.Context) error
	dtmf     *diago.DTMFWriter
	readDone chan struct{}

	mu    sync.Mutex
	heard []byte
	sound chan struct{}
}

func newLeg(med *diago.DialogMedia, ctx context.Context, hangup func(context.Context) error) *Leg {
	l := &Leg{med: med, ctx: ctx, hangup: hangup, readDone: make(chan struct{}), sound: make(chan struct{}, 1)}
	l.dtmf, _ = med.AudioWriterDTMF()
	props := diago.MediaProps{}
	r, err := med.AudioReader(diago.WithAudioReaderMediaProps(&props))
	if err != nil {
		close(l.readDone)
		return l
	}
	go l.read(r, props.Codec)
	return l
}

// maxHeard bounds what a leg keeps: ten minutes of audio.
const maxHeard = 10 * 60 * 8000 * 2

func (l *Leg) read(r interface{ Read([]byte) (int, error) }, codec media.Codec) {
	defer close(l.readDone)
	buf := make([]byte, media.RTPBufSize)
	pcm := make([]byte, 2*media.RTPBufSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			if media.ErrorIsTimeout(err) && l.ctx.Err() == nil {
				continue
			}
			return
		}
		var m int
		if codec.PayloadType == media.CodecAudioAlaw.PayloadType {
			m, err = audio.DecodeAlawTo(pcm, buf[:n])
		} else {
			m, err = audio.DecodeUlawTo(pcm, buf[:n])
		}
		if err != nil {
			continue
		}
		loud := RMS(pcm[:m]) > 300
		l.mu.Lock()
		if len(l.heard) < maxHeard {
			l.heard = append(l.heard, pcm[:m]...)
		}
		l.mu.Unlock()
		if loud {
			select {
			case l.sound <- struct{}{}:
			default:
			}
		}
	}
}

// Heard returns the audio heard so far, as 16-bit PCM at 8000 Hz.
func (l *Leg) Heard() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.heard)
}

// WaitSound waits up to timeout for audio louder than silence.
func (l *Leg) WaitSound(timeout time.Duration) error {
	select {
	case <-l.sound:
		return nil
	case <-l.ctx.Done():
		return fmt.Errorf("call ended before any sound")
	case <-time.After(timeout):
		return fmt.Errorf("no sound within %s", timeout)
	}
}

// Silence waits until the far end has sent nothing loud for quiet (the
// end of a prompt), up to timeout.
func (l *Leg) Silence(quiet, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-l.sound:
			continue
		case <-l.ctx.Done():
			return fmt.Errorf("call ended")
		case <-time.After(quiet):
			return nil
		}
	}
	return fmt.Errorf("still sounding after %s", timeout)
}

// Press sends keys as RFC 2833 events, 300 ms apart.
func (l *Leg) Press(keys string) error {
	if l.dtmf == nil {
		return fmt.Errorf("no telephone-event negotiated")
	}
	for _, k := range keys {
		if err := l.dtmf.WriteDTMF(k); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

// Speak sends a tone of hz for d (a caller speaking into a recording).
func (l *Leg) Speak(hz float64, d time.Duration) error {
	pb, err := l.med.PlaybackCreate()
	if err != nil {
		return err
	}
	_, err = pb.Play(bytes.NewReader(Tone(hz, d)), "audio/pcm")
	return err
}

// Done is closed when the call has ended.
func (l *Leg) Done() <-chan struct{} { return l.ctx.Done() }

// Hangup ends the call (BYE) and waits for the reader to stop.
func (l *Leg) Hangup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if l.ctx.Err() == nil {
		_ = l.hangup(ctx)
	}
	_ = l.med.StopRTP(1, 0)
	select {
	case <-l.readDone:
	case <-ctx.Done():
	}
}

// Tone is d of a sine at hz as 16-bit PCM at 8000 Hz.
func Tone(hz float64, d time.Duration) []byte {
	n := int(d.Seconds() * 8000)
	out := make([]byte, 2*n)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
	return out
}

// RMS is the root mean square of 16-bit PCM: about 0 for silence, a few
// thousand for speech.
func RMS(pcm []byte) float64 {
	if len(pcm) < 2 {
		return 0
	}
	var sum float64
	for i := 0; i+1 < len(pcm); i += 2 {
		v := float64(int16(binary.LittleEndian.Uint16(pcm[i:])))
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(pcm)/2))
}

// ToneTime is how much of 16-bit PCM at 8000 Hz is a tone at hz: the
// total length of its 20 ms frames whose power lies mostly (over 80 %)
// at that frequency (Goertzel). Speech and other tones do not count.
func ToneTime(pcm []byte, hz float64) time.Duration {
	const frame = 160 // 20 ms
	coeff := 2 * math.Cos(2*math.Pi*hz/8000)
	var n int
	for off := 0; off+2*frame <= len(pcm); off += 2 * frame {
		var s1, s2, energy float64
		for i := range frame {
			x := float64(int16(binary.LittleEndian.Uint16(pcm[off+2*i:])))
			energy += x * x
			s1, s2 = x+coeff*s1-s2, s1
		}
		if energy < frame*100*100 { // quieter than RMS 100: silence
			continue
		}
		// |X(hz)|² of the frame; a pure tone holds energy×N/2 there.
		power := s1*s1 + s2*s2 - coeff*s1*s2
		if power > 0.8*energy*frame/2 {
			n++
		}
	}
	return time.Duration(n) * 20 * time.Millisecond
}
