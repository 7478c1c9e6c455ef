// Package accounting is the router's call accounting: a call detail
// record (CDR) for every call, priced by a rate table, written in batches
// off the calls' path, and the reports a PBX's operators run on them
// (daily totals of incoming and outgoing calls and minutes, per class,
// gateway, account and department, the top destinations, the calls of
// blocked accounts, CSV export); and the real-time calls list, with an
// operator's hang-up.
//
// Records come from the dialog table (sip.Dialogs) and the call's record
// (sip.Call): what each stage decided, never SIP parsed again. They have
// OpenSIPS's acc columns, as its acc module writes them with
// do_accounting("db", "cdr|missed|failed") (every call in acc, the
// unanswered ones in missed_calls too), and Palio's own: caller and
// callee accounts, the number dialled and translated, class, gateway,
// carrier, direction, hang-up side, cost.
//
//	rec, err := accounting.New(accounting.Config{Spool: "/var/spool/palio/cdr.spool"}, db.Accounting())
//	if err != nil {
//		return err
//	}
//	defer rec.Close() // after the server: the calls it ends are recorded
//	stop := rec.Watch(srv.Dialogs())
//	defer stop()
//	mux := &sip.ServeMux{
//		// The calls refused before the Forwarder (403, 404, 480...)
//		// never reach the dialog table: the stage records them.
//		Initial: sip.Chain(rec.Wrap, source, auth, dest)(fwd),
//		// Register, InDialog...
//	}
//
// A call never waits for the database: Record queues its CDR (dropping
// it, counted and logged, when the queue is full) and a writer goroutine
// writes batches. When the store fails, records go to the spool file and
// are written when it answers again, also after a restart; Close writes
// what is queued before it returns.
package accounting
