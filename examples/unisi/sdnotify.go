package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotify sends state to the service manager as systemd's sd_notify(3)
// does: one datagram ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=…",
// newline-separated) to the AF_UNIX datagram socket named by
// $NOTIFY_SOCKET (a path, or "@name" for an abstract socket). Without
// $NOTIFY_SOCKET (not started by systemd, or Type= is not notify) it does
// nothing.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET %q: want a path or @abstract (vsock is not supported)", addr)
	}
	name := addr
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// sdWatchdog returns the interval at which systemd expects WATCHDOG=1
// (half of WatchdogSec, as sd_watchdog_enabled(3) advises), or 0 when the
// unit sets no watchdog or it is meant for another process.
func sdWatchdog() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// sdKeepAlive sends WATCHDOG=1 every sdWatchdog() until ctx ends, as long
// as alive says the server works (a server that cannot answer is restarted
// by systemd rather than kept).
func sdKeepAlive(ctx context.Context, alive func() bool) {
	every := sdWatchdog()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive() {
				_ = sdNotify("WATCHDOG=1")
			}
		}
	}
}
