package mediabox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"
)

// errHungUp ends an application when the caller has hung up.
var errHungUp = errors.New("mediabox: caller hung up")

// call is one answered (or being answered) call and its media.
type call struct {
	box    *Box
	d      *diago.DialogServerSession
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	caller string // From user
	callee string // Request-URI user

	med    *diago.DialogMedia
	codec  media.Codec
	digits chan rune

	// The reader goroutine: it reads the caller's audio, hands DTMF to
	// digits, stops the prompt playing when a key is pressed, and feeds
	// the recorder while one is set.
	readerDone chan struct{}
	stopRead   atomic.Bool
	playing    atomic.Pointer[diago.AudioPlaybackControl]
	rec        atomic.Pointer[recorder]
	// lastRTP is when the caller's last packet came (Unix ns); watchdog
	// hangs up a call silent for MediaTimeout.
	lastRTP  atomic.Int64
	watchdog *time.Timer
}

// heard records that a packet came from the caller.
func (c *call) heard() { c.lastRTP.Store(time.Now().UnixNano()) }

// watch arms the media timeout: a timer that re-arms itself while RTP
// comes, and ends the call when it stops.
func (c *call) watch() {
	timeout := c.box.cfg.MediaTimeout
	c.heard()
	var check func()
	check = func() {
		if c.hungUp() {
			return
		}
		idle := time.Since(time.Unix(0, c.lastRTP.Load()))
		if idle >= timeout {
			c.log.Info("mediabox: no media from the caller: hanging up", "idle", idle.Round(time.Second))
			c.box.m.refused.WithLabelValues("media-timeout").Inc()
			c.cancel()
			return
		}
		c.watchdog.Reset(timeout - idle)
	}
	c.watchdog = time.AfterFunc(timeout, check)
	context.AfterFunc(c.ctx, func() { c.watchdog.Stop() })
}

// answer answers the call with media and starts the reader.
func (c *call) answer() error {
	med, err := c.d.Answer(diago.AnswerOptions{})
	if err != nil {
		return fmt.Errorf("mediabox: answer: %w", err)
	}
	c.med = med
	props := diago.MediaProps{}
	if _, err := med.AudioReader(diago.WithAudioReaderMediaProps(&props)); err != nil {
		return fmt.Errorf("mediabox: media: %w", err)
	}
	c.codec = props.Codec
	c.digits = make(chan rune, 32)
	dtmf, err := med.AudioReaderDTMF()
	if err != nil {
		// No telephone-event negotiated: the caller can listen and
		// speak but not choose; menus time out.
		c.log.Debug("mediabox: no RFC 2833 events negotiated", "error", err)
	}
	c.readerDone = make(chan struct{})
	go c.read(dtmf)
	c.watch()
	return nil
}

// read is the reader goroutine.
func (c *call) read(dtmf *diago.DTMFReader) {
	defer close(c.readerDone)
	var r io.Reader
	if dtmf != nil {
		dtmf.OnDTMF(func(d rune) error {
			select {
			case c.digits <- d:
			default: // a caller typing faster than the menu reads
			}
			if p := c.playing.Load(); p != nil {
				p.Stop()
			}
			return nil
		})
		r = dtmf
	} else {
		var err error
		if r, err = c.med.AudioReader(); err != nil {
			return
		}
	}
	dec, _ := newDecoder(c.codec)
	buf := make([]byte, media.RTPBufSize)
	pcm := make([]byte, 2*media.RTPBufSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			if media.ErrorIsTimeout(err) && !c.stopRead.Load() {
				continue
			}
			return
		}
		c.heard()
		if rec := c.rec.Load(); rec != nil && dec != nil {
			m, err := dec(pcm, buf[:n])
			if err == nil {
				rec.write(pcm[:m])
			}
		}
	}
}

// stopReading stops the reader goroutine and waits for it.
func (c *call) stopReading() {
	if c.readerDone == nil || c.stopRead.Swap(true) {
		return
	}
	_ = c.med.StopRTP(1, 0)
	<-c.readerDone
	_ = c.med.StartRTP(1, 0) // reads go on, for the bridge
}

// newDecoder returns the G.711 decoder of codec.
func newDecoder(codec media.Codec) (func(lpcm, enc []byte) (int, error), error) {
	switch codec.PayloadType {
	case media.CodecAudioUlaw.PayloadType:
		return audio.DecodeUlawTo, nil
	case media.CodecAudioAlaw.PayloadType:
		return audio.DecodeAlawTo, nil
	}
	return nil, fmt.Errorf("mediabox: codec %s: not G.711", codec.Name)
}

// hungUp reports whether the call has ended.
func (c *call) hungUp() bool { return c.ctx.Err() != nil }

// play plays prompts in order. A key pressed while they play stops them
// (and stays in digits for the menu to read) when bargeIn is set.
func (c *call) play(bargeIn bool, names ...string) error {
	for _, name := range names {
		pcm, ok := c.box.prompts.pcm[name]
		if !ok {
			return fmt.Errorf("mediabox: prompt %q not loaded", name)
		}
		stopped, err := c.playPCM(pcm, bargeIn)
		if err != nil || stopped {
			return err
		}
	}
	return nil
}

// playPCM plays 16-bit PCM; it reports whether a key stopped it.
func (c *call) playPCM(pcm []byte, bargeIn bool) (stopped bool, err error) {
	return c.playPCMUntil(c.ctx, pcm, bargeIn)
}

// playPCMUntil is playPCM that ctx's end stops too.
func (c *call) playPCMUntil(ctx context.Context, pcm []byte, bargeIn bool) (stopped bool, err error) {
	if c.hungUp() {
		return false, errHungUp
	}
	if bargeIn && len(c.digits) > 0 {
		return true, nil
	}
	pb, err := c.med.PlaybackControlCreate()
	if err != nil {
		return false, fmt.Errorf("mediabox: playback: %w", err)
	}
	if bargeIn {
		c.playing.Store(&pb)
		defer c.playing.Store(nil)
	}
	// The dialog's end stops the playback too.
	stop := context.AfterFunc(ctx, pb.Stop)
	defer stop()
	_, err = pb.Play(bytes.NewReader(pcm), "audio/pcm")
	if c.hungUp() {
		return false, errHungUp
	}
	if bargeIn && len(c.digits) > 0 {
		return true, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("mediabox: play: %w", err)
	}
	return false, nil
}

// playFile plays a WAV from the spool.
func (c *call) playFile(data []byte, bargeIn bool) error {
	pcm, err := DecodeWAV(data)
	if err != nil {
		return err
	}
	_, err = c.playPCM(pcm, bargeIn)
	return err
}

// sayNumber says n digit by digit.
func (c *call) sayNumber(n int) error {
	for _, d := range strconv.Itoa(n) {
		if err := c.play(true, "digit-"+string(d)); err != nil {
			return err
		}
	}
	return nil
}

// flushDigits forgets the keys pressed so far.
func (c *call) flushDigits() {
	for {
		select {
		case <-c.digits:
		default:
			return
		}
	}
}

// digit waits up to timeout for a key; 0 when none came.
func (c *call) digit(timeout time.Duration) (rune, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case d := <-c.digits:
		return d, nil
	case <-t.C:
		return 0, nil
	case <-c.ctx.Done():
		return 0, errHungUp
	}
}

// collect reads keys until '#', max of them, or a pause of timeout.
func (c *call) collect(max int, timeout time.Duration) (string, error) {
	var s []rune
	for len(s) < max {
		d, err := c.digit(timeout)
		if err != nil {
			return "", err
		}
		if d == 0 || d == '#' {
			break
		}
		s = append(s, d)
	}
	return string(s), nil
}

// recorder collects the caller's audio as 16-bit PCM, up to a bound.
type recorder struct {
	mu   sync.Mutex
	pcm  []byte
	max  int
	full chan struct{}
	once sync.Once
}

func newRecorder(max time.Duration) *recorder {
	return &recorder{max: int(max.Seconds() * SampleRate * 2), full: make(chan struct{})}
}

func (r *recorder) write(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.max - len(r.pcm)
	if room <= 0 {
		return
	}
	if len(p) >= room {
		p = p[:room]
		r.once.Do(func() { close(r.full) })
	}
	r.pcm = append(r.pcm, p...)
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pcm
}

// record records the caller until '#', hang-up or max; it returns the
// PCM and whether the caller hung up.
func (c *call) record(max time.Duration) (pcm []byte, hungUp bool) {
	c.flushDigits()
	rec := newRecorder(max)
	c.rec.Store(rec)
	defer c.rec.Store(nil)
	t := time.NewTimer(max + time.Second)
	defer t.Stop()
	for {
		select {
		case d := <-c.digits:
			if d != '#' {
				continue
			}
		case <-rec.full:
		case <-t.C:
		case <-c.ctx.Done():
			hungUp = true
		}
		break
	}
	c.rec.Store(nil)
	return rec.take(), hungUp
}

// runActions carries out an action and those it leads to, until the
// call ends.
func (c *call) runActions(a Action) error {
	var current Menu
	for step := 0; ; step++ {
		if step > 100 { // menus leading to each other without end
			return c.goodbye()
		}
		switch a.Kind {
		case GoMenu, Repeat:
			if a.Kind == GoMenu {
				m, err := c.box.store.Menu(c.ctx, a.Arg)
				if err != nil {
					c.log.Warn("mediabox: menu unavailable", "menu", a.Arg, "error", err)
					return c.unavailable()
				}
				current = m
			}
			next, err := c.menu(current)
			if err != nil {
				return err
			}
			a = next
		case Transfer:
			return c.transfer(a.Arg)
		case Voicemail:
			box, err := c.box.store.Mailbox(c.ctx, a.Arg)
			if err != nil || c.box.cfg.Spool == "" {
				c.log.Warn("mediabox: mailbox unavailable", "mailbox", a.Arg, "error", err)
				if err := c.play(false, "vm-unavailable"); err != nil {
					return err
				}
				return c.goodbye()
			}
			return c.leaveMessage(box)
		case GoQueue:
			next, err := c.queue(a.Arg)
			if err != nil || next.IsZero() {
				return err
			}
			a = next
		default: // Hangup and the zero action
			return c.goodbye()
		}
	}
}

// menu plays m until the caller picks a key, and returns its action.
func (c *call) menu(m Menu) (Action, error) {
	timeout := m.Timeout
	if timeout == 0 {
		timeout = DefaultDigitTimeout
	}
	retries := m.Retries
	switch retries {
	case 0:
		retries = DefaultRetries
	case NoRetries:
		retries = 0
	}
	c.flushDigits()
	for try := 0; try <= retries; try++ {
		if !c.box.prompts.Has(m.Prompt) {
			c.log.Warn("mediabox: menu prompt missing", "menu", m.ID, "prompt", m.Prompt)
			return Action{}, c.unavailable()
		}
		if err := c.play(true, m.Prompt); err != nil {
			return Action{}, err
		}
		d, err := c.digit(timeout)
		if err != nil {
			return Action{}, err
		}
		if d == 0 {
			continue
		}
		if a, ok := m.Keys[string(d)]; ok {
			c.log.Debug("mediabox: menu key", "menu", m.ID, "key", string(d), "action", a.String())
			return a, nil
		}
		if err := c.play(false, "invalid"); err != nil {
			return Action{}, err
		}
		c.flushDigits()
	}
	if m.OnTimeout.IsZero() {
		return Action{Kind: Hangup}, nil
	}
	return m.OnTimeout, nil
}

// goodbye says goodbye; the call ends when the application returns.
func (c *call) goodbye() error {
	err := c.play(false, "goodbye")
	if errors.Is(err, errHungUp) {
		return nil
	}
	return err
}

// unavailable says the destination cannot be reached and hangs up.
func (c *call) unavailable() error {
	if err := c.play(false, "unavailable"); err != nil {
		return err
	}
	return c.goodbye()
}

// transfer calls number through the router and bridges the caller to it
// until either side hangs up.
func (c *call) transfer(number string) error {
	if err := c.play(false, "transfer"); err != nil {
		return err
	}
	d, med, err := c.place(c.ctx, number, c.box.cfg.RingTimeout)
	if err != nil {
		if c.hungUp() {
			return errHungUp
		}
		c.log.Info("mediabox: transfer failed", "to", number, "error", err)
		return c.unavailable()
	}
	c.log.Info("mediabox: transferred", "to", number)
	c.bridge(d, med)
	return nil
}

// bridge relays audio both ways between the caller and an answered leg
// until either hangs up, then hangs up the other.
func (c *call) bridge(d *diago.DialogClientSession, med *diago.DialogMedia) {
	c.stopReading()
	defer c.box.closePlaced(d)
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stop := context.AfterFunc(d.Context(), cancel)
	defer stop()

	var wg sync.WaitGroup
	relay := func(from, to *diago.DialogMedia, heard func()) {
		defer wg.Done()
		defer cancel()
		fp, tp := diago.MediaProps{}, diago.MediaProps{}
		r, err := from.AudioReader(diago.WithAudioReaderMediaProps(&fp))
		if err != nil {
			return
		}
		w, err := to.AudioWriter(diago.WithAudioWriterMediaProps(&tp))
		if err != nil {
			return
		}
		if fp.Codec.PayloadType != tp.Codec.PayloadType {
			// PCMU on one leg, PCMA on the other: through 16-bit PCM.
			dr, err1 := audio.NewPCMDecoderReader(fp.Codec.PayloadType, r)
			ew, err2 := audio.NewPCMEncoderWriter(tp.Codec.PayloadType, w)
			if err1 != nil || err2 != nil {
				return
			}
			r, w = dr, ew
		}
		buf := make([]byte, media.RTPBufSize)
		for ctx.Err() == nil {
			n, err := r.Read(buf)
			if err != nil {
				if media.ErrorIsTimeout(err) && ctx.Err() == nil {
					continue
				}
				return
			}
			heard()
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go relay(c.med, med, c.heard)
	go relay(med, c.med, func() {})
	<-ctx.Done()
	_ = c.med.StopRTP(1, 0)
	_ = med.StopRTP(1, 0)
	wg.Wait()
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
	defer hcancel()
	if d.Context().Err() == nil {
		_ = d.Hangup(hctx)
	}
}
