package sip

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	sipmsg "github.com/emiago/sipgo/sip"
)

// benignLines are the starts of lines sipgo logs at Warn that say nothing
// wrong with the proxy or its peers. "TCP ref went negative" (and its UDP
// and WS twins) comes from the reference count sipgo keeps on a pooled
// connection: closing a connection that the pool has already dropped (a
// peer that closed first, a probe whose dial failed) takes the count below
// zero. Nothing leaks and nothing is lost, but at Warn it reads as a fault.
var benignLines = []string{
	"TCP ref went negative",
	"UDP ref went negative",
	"WS ref went negative",
}

// benign reports whether msg is one of benignLines.
func benign(msg string) bool {
	for _, b := range benignLines {
		if strings.HasPrefix(msg, b) {
			return true
		}
	}
	return false
}

// demoteBenign returns a handler that passes sipgo's known-benign lines
// (benignLines) to next at Debug instead of the level sipgo gave them, and
// every other line as it is. It sits in front of everything sipgo logs
// through: a Server's transport, transaction, server and client loggers,
// and sipgo's package-level logger (SetLibraryLogger).
func demoteBenign(next slog.Handler) slog.Handler { return benignDemoter{next} }

type benignDemoter struct{ next slog.Handler }

func (h benignDemoter) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h benignDemoter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && benign(r.Message) {
		if !h.next.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		nr := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(a); return true })
		r = nr
	}
	return h.next.Handle(ctx, r)
}

func (h benignDemoter) WithAttrs(as []slog.Attr) slog.Handler {
	return benignDemoter{h.next.WithAttrs(as)}
}

func (h benignDemoter) WithGroup(name string) slog.Handler {
	return benignDemoter{h.next.WithGroup(name)}
}

// libraryLog is where sipgo's package-level lines go: SetLibraryLogger's
// logger, or slog.Default() while none is set.
var libraryLog atomic.Pointer[slog.Logger]

// SetLibraryLogger sends the lines sipgo logs outside of any Server
// through l, the way a Server sends its own sipgo lines through its
// logger: Warn and above, with component=sipgo, the known-benign ones
// ("TCP ref went negative", logged when a pooled connection is closed
// twice) at Debug. Those lines come from sipgo's package-level logger
// (sipgo's sip.DefaultLogger: connection reference counts, requests no
// handler took), which otherwise writes to slog.Default() in whatever
// format that has. A program with one log format calls it with its
// logger before serving; nil goes back to slog.Default(). It is safe to
// call at any time: the package installs its own indirection in sipgo
// when it is initialised, and this only swaps what is behind it.
func SetLibraryLogger(l *slog.Logger) { libraryLog.Store(l) }

// installLibraryLog makes sipgo's package-level logger the indirection
// SetLibraryLogger sets. sipgo reads that logger without a lock, so it is
// set once, before any of its goroutines exists (in the package's init).
func installLibraryLog() {
	sipmsg.SetDefaultLogger(slog.New(libraryHandler{}).With("component", "sipgo"))
}

// libraryHandler passes Warn and above to the handler of the logger
// SetLibraryLogger set (slog.Default()'s when none), chosen per line,
// with the attributes and groups sipgo added on the way, its strings
// bounded as a Server's sipgo lines are, the benign ones at Debug.
type libraryHandler struct {
	ops []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (libraryHandler) target() slog.Handler {
	if l := libraryLog.Load(); l != nil {
		return demoteBenign(l.Handler())
	}
	return demoteBenign(slog.Default().Handler())
}

// Enabled admits Warn and above: sipgo's Debug and Info lines are
// routine, and some are on its hot paths.
func (h libraryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.target().Enabled(ctx, l)
}

func (h libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	next := h.target()
	if benign(r.Message) && !next.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	for _, op := range h.ops {
		next = op(next)
	}
	nr := slog.NewRecord(r.Time, r.Level, shorten(r.Message, attrLen), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "data" {
			nr.AddAttrs(boundAttr(a))
		}
		return true
	})
	return next.Handle(ctx, nr)
}

func (h libraryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	bounded := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if a.Key != "data" {
			bounded = append(bounded, boundAttr(a))
		}
	}
	return h.with(func(n slog.Handler) slog.Handler { return n.WithAttrs(bounded) })
}

func (h libraryHandler) WithGroup(name string) slog.Handler {
	return h.with(func(n slog.Handler) slog.Handler { return n.WithGroup(name) })
}

func (h libraryHandler) with(op func(slog.Handler) slog.Handler) libraryHandler {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return libraryHandler{ops: append(ops, op)}
}
