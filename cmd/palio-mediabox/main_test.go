package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/internal/daemon"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/mediabox/mediaboxtest"
	"github.com/palio-voip/palio/store/sqlite"
)

// TestServesMenusFromTheDatabase: the daemon reads an IVR menu an
// operator stored, answers a call to it with its prompt, and stops on
// its context.
func TestServesMenusFromTheDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "unisi.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MediaBox().PutMenu(ctx, mediabox.Menu{ID: "7", Prompt: "goodbye", Keys: map[string]mediabox.Action{"1": {Kind: mediabox.Hangup}}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	listen := "127.0.0.1:" + strconv.Itoa(mediaboxtest.FreeUDPPort(t))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(rctx, []string{"-listen", listen, "-db", path, "-spool", t.TempDir(), "-ports", "25900-25999", "-log", "warn"}, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v\n%s", err, stderr.String())
		}
	}()
	// The box's RTP range, set here before the test's phone reads it
	// (diago keeps it process-wide).
	mediabox.SetRTPPorts(25900, 25999)
	phone := mediaboxtest.NewPhone(t, "5001")
	var leg *mediaboxtest.Leg
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		leg, err = phone.Call(cctx, "sip:IVR_7@"+listen)
		ccancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("call: %v\n%s", err, stderr.String())
	}
	defer leg.Hangup()
	if err := leg.WaitSound(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-ports", "30000"},
		{"-listen", "nowhere"},
		{"-log", "loud"},
		{"-max-calls", "-1"},
	} {
		err := run(context.Background(), args, &bytes.Buffer{})
		if !errors.As(err, new(daemon.UsageError)) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	err := run(context.Background(), []string{"-db", filepath.Join(t.TempDir(), "none.db")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unisi init") {
		t.Errorf("a missing database: %v", err)
	}
}
