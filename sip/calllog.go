package sip

import (
	"context"
	"log/slog"
	"time"
)

// WithCallLog makes the Server log one line per call when it ends, at
// Info, through its logger (LogCall's line): every initial INVITE it
// handles, answered, rejected by a stage, cancelled or failed downstream,
// but for an INVITE answered with a challenge (401, 407): the phone sends
// it again with credentials, and that one is the call. Off by default; a busy proxy logging to a slow disk pays one write per
// call.
func WithCallLog(on bool) Option { return func(s *Server) { s.callLog = on } }

// LogCall writes the line of the ended call d to l, at Info:
//
//	msg="sip: call" callid=… from=sip:5002@voip.unisi.it to=sip:00577232111@voip.unisi.it caller=5002@voip.unisi.it number=00577232111 class=national gateway=gw-siena-1 status=200 cause=bye-caller setup=1.2s duration=1m5s
//
// from and to are the URIs of the INVITE's From and To, caller the account
// the caller authenticated as (empty for a trusted source), number what
// alias, ENUM and the dialplan made of the dialled number and class the
// class it was given, gateway the gateway of the branch that answered (or
// of the last one tried), status the final status sent upstream (200 for
// an answered call), cause how it ended (see Cause), setup the time from
// the INVITE to the answer (or to the end of an unanswered call) and
// duration the talk time, zero when unanswered. A call whose media a
// relay anchored adds media_packets, media_lost, media_jitter and one_way
// (Call.MediaStats). What no stage set is empty. The Server logs it for every call with WithCallLog; a program
// may log its own calls the same way from a Call's OnEnd.
func LogCall(ctx context.Context, l *slog.Logger, d Dialog) {
	if !l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	info := d.Call.Info()
	end := d.Ended
	if end.IsZero() {
		end = time.Now()
	}
	setup := end.Sub(d.Created)
	if !d.Answered.IsZero() {
		setup = d.Answered.Sub(d.Created)
	}
	if d.Created.IsZero() {
		setup = 0
	}
	status := d.Code
	attrs := []slog.Attr{
		slog.String("callid", d.CallID),
		slog.String("from", d.From),
		slog.String("to", d.To),
		slog.String("caller", info.Caller.AOR()),
		slog.String("number", info.Number),
		slog.String("class", info.Class),
		slog.String("gateway", d.Gateway),
		slog.Int("status", status),
		slog.String("cause", string(d.Cause)),
		slog.Duration("setup", setup.Round(time.Millisecond)),
		slog.Duration("duration", d.Duration(end).Round(time.Millisecond)),
	}
	if ms, ok := d.Call.MediaStats(); ok {
		attrs = append(attrs, slog.Uint64("media_packets", ms.Packets), slog.Uint64("media_lost", ms.Lost),
			slog.Duration("media_jitter", ms.Jitter), slog.Bool("one_way", ms.OneWay))
	}
	l.LogAttrs(ctx, slog.LevelInfo, "sip: call", attrs...)
}

// logRequest writes the Debug line of a request handled: method,
// Request-URI, source, Call-ID and the final status sent (0 when none
// went: an ACK, a request whose handling ended without one).
func (s *Server) logRequest(r *Request, status int) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "sip: request",
		slog.String("method", string(r.Method)),
		slog.String("ruri", r.Recipient.String()),
		slog.String("src", r.Source()),
		slog.String("transport", r.Transport()),
		slog.String("callid", callID(r)),
		slog.Int("status", status),
	)
}
