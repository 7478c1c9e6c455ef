package mediaboxtest_test

import (
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"testing"
	"time"
)

func TestToneTime(t *testing.T) {
	pcm := append(mediaboxtest.Tone(400, time.Second), mediaboxtest.Tone(1000, time.Second)...)
	pcm = append(pcm, make([]byte, 16000)...)
	pcm = append(pcm, mediaboxtest.Tone(400, 500*time.Millisecond)...)
	if got := mediaboxtest.ToneTime(pcm, 400); got < 1400*time.Millisecond || got > 1600*time.Millisecond {
		t.Errorf("400 Hz: %v", got)
	}
	if got := mediaboxtest.ToneTime(pcm, 1000); got < 900*time.Millisecond || got > 1100*time.Millisecond {
		t.Errorf("1000 Hz: %v", got)
	}
	if got := mediaboxtest.ToneTime(pcm, 700); got != 0 {
		t.Errorf("700 Hz: %v", got)
	}
}
