package mediabox

import (
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed prompts/*.wav
var defaultPrompts embed.FS

// SampleRate is the rate of every prompt and recording: 8000 Hz, the
// rate of G.711 (PCMU, PCMA), the codecs the box speaks.
const SampleRate = 8000

// requiredPrompts are the prompts the applications play; a prompt set
// without one of them is refused at load.
var requiredPrompts = []string{
	"invalid", "goodbye", "transfer", "unavailable", "beep", "moh",
	"vm-greeting", "vm-unavailable", "vm-full", "vm-saved", "vm-pin", "vm-badpin", "vm-locked",
	"vm-main", "vm-youhave", "vm-new", "vm-old", "vm-nomsg", "vm-msgmenu", "vm-deleted", "vm-end",
	"vm-recgreeting", "vm-greetingsaved",
	"q-hold", "q-position", "q-loggedin", "q-loggedout", "q-notagent",
	"digit-0", "digit-1", "digit-2", "digit-3", "digit-4", "digit-5", "digit-6", "digit-7", "digit-8", "digit-9",
}

// Prompts is a loaded prompt set: each prompt's audio as 16-bit signed
// little-endian mono PCM at SampleRate, checked at load so that a call
// never meets a missing or unplayable prompt.
type Prompts struct {
	pcm map[string][]byte
}

// LoadPrompts loads the default prompts, then site's (NAME.wav files at
// the root of site, which may be nil): a site prompt replaces the default
// of its name or adds a new one (an IVR menu's prompt). Every file must be
// a RIFF/WAVE file of PCM, mono, 16-bit, 8000 Hz; LoadPrompts says which
// one is not and why.
func LoadPrompts(site fs.FS) (*Prompts, error) {
	p := &Prompts{pcm: map[string][]byte{}}
	sub, err := fs.Sub(defaultPrompts, "prompts")
	if err != nil {
		return nil, err
	}
	if err := p.load(sub, "default"); err != nil {
		return nil, err
	}
	if site != nil {
		if err := p.load(site, "site"); err != nil {
			return nil, err
		}
	}
	for _, name := range requiredPrompts {
		if _, ok := p.pcm[name]; !ok {
			return nil, fmt.Errorf("mediabox: prompts: %s.wav missing", name)
		}
	}
	return p, nil
}

func (p *Prompts) load(fsys fs.FS, set string) error {
	names, err := fs.Glob(fsys, "*.wav")
	if err != nil {
		return fmt.Errorf("mediabox: %s prompts: %w", set, err)
	}
	for _, file := range names {
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return fmt.Errorf("mediabox: %s prompt %s: %w", set, file, err)
		}
		pcm, err := DecodeWAV(data)
		if err != nil {
			return fmt.Errorf("mediabox: %s prompt %s: %w", set, file, err)
		}
		p.pcm[strings.TrimSuffix(path.Base(file), ".wav")] = pcm
	}
	return nil
}

// Has reports whether the set holds the prompt name.
func (p *Prompts) Has(name string) bool {
	_, ok := p.pcm[name]
	return ok
}

// Names lists the prompts, sorted.
func (p *Prompts) Names() []string {
	out := make([]string, 0, len(p.pcm))
	for n := range p.pcm {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Duration is how long the prompt name plays (0 if there is none).
func (p *Prompts) Duration(name string) time.Duration {
	return pcmDuration(len(p.pcm[name]))
}

func pcmDuration(bytes int) time.Duration {
	return time.Duration(bytes/2) * time.Second / SampleRate
}

// DecodeWAV returns the PCM samples of a WAV file in the box's format
// (PCM, mono, 16-bit, 8000 Hz), or says how the file differs.
func DecodeWAV(data []byte) ([]byte, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	var haveFmt bool
	rest := data[12:]
	for len(rest) >= 8 {
		id, size := string(rest[0:4]), binary.LittleEndian.Uint32(rest[4:8])
		rest = rest[8:]
		if uint64(size) > uint64(len(rest)) {
			if id == "data" { // a recorder that never patched the size
				size = uint32(len(rest))
			} else {
				return nil, fmt.Errorf("chunk %q overruns the file", id)
			}
		}
		body := rest[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("fmt chunk too short")
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels := binary.LittleEndian.Uint16(body[2:4])
			rate := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format != 1 || channels != 1 || rate != SampleRate || bits != 16 {
				return nil, fmt.Errorf("format %d, %d channel(s), %d Hz, %d bits: want PCM (1), mono, %d Hz, 16 bits (sox IN -r 8000 -c 1 -b 16 -e signed-integer OUT.wav)",
					format, channels, rate, bits, SampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("data before fmt")
			}
			if size < 2 {
				return nil, errors.New("no samples")
			}
			return body[:size&^1], nil
		}
		rest = rest[min(len(rest), int(size+size&1)):]
	}
	return nil, errors.New("no data chunk")
}

// EncodeWAV wraps PCM samples (16-bit mono at SampleRate) in a WAV file.
func EncodeWAV(pcm []byte) []byte {
	out := make([]byte, 44, 44+len(pcm))
	copy(out[0:], "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(36+len(pcm)))
	copy(out[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(out[16:], 16)
	binary.LittleEndian.PutUint16(out[20:], 1)
	binary.LittleEndian.PutUint16(out[22:], 1)
	binary.LittleEndian.PutUint32(out[24:], SampleRate)
	binary.LittleEndian.PutUint32(out[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(out[32:], 2)
	binary.LittleEndian.PutUint16(out[34:], 16)
	copy(out[36:], "data")
	binary.LittleEndian.PutUint32(out[40:], uint32(len(pcm)))
	return append(out, pcm...)
}

// CheckMenu reports a prompt of m the set does not hold.
func (p *Prompts) CheckMenu(m Menu) error {
	if !p.Has(m.Prompt) {
		return fmt.Errorf("mediabox: menu %s: prompt %q is neither built in nor a site prompt (%s.wav): calls to the menu will hear \"unavailable\"", m.ID, m.Prompt, m.Prompt)
	}
	return nil
}

// CheckQueue reports a music prompt of q the set does not hold.
func (p *Prompts) CheckQueue(q Queue) error {
	if q.Music != "" && !p.Has(q.Music) {
		return fmt.Errorf("mediabox: queue %s: music %q is neither built in nor a site prompt (%s.wav): its callers will hear the default music", q.ID, q.Music, q.Music)
	}
	return nil
}
