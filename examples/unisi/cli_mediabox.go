package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palio-voip/palio/mediabox"
	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/store/sqlstore"
)

// The media box commands: the IVR menus, call queues and voicemail boxes
// the built-in media box serves (palio_ivr_*, palio_queue*,
// palio_voicemail_*). The library checks every value
// (mediabox.ParseAction and the types' Validate); these commands add
// what only the database knows, as warnings: a key leading to a menu,
// queue or mailbox that does not exist (yet).
var mediaboxCommands = []command{
	{
		name: "ivr set", args: "ID -prompt NAME -key KEY=ACTION [-key ...]", section: "Media box", min: 1, max: 1,
		summary: "create or replace an IVR menu (IVR_<ID>): its prompt and what each key does",
		detail: `The menu is replaced whole: give every key each time. An ACTION is one of

  transfer:NUMBER   call NUMBER through the router (as the caller would dial it)
  menu:ID           play another menu
  voicemail:USER    take a message for USER's mailbox
  queue:ID          put the caller in a queue
  repeat            play this menu again
  hangup            say goodbye and hang up

A key is 0-9, * or #. The prompt is a name of the box's prompt set or a
site prompt file's name without .wav. A key leading to a menu, queue or
mailbox that does not exist is stored with a warning (create it next). A
running server sees the change through the store's change counter. The
alias table maps a dialled number to the menu (5000 → IVR_5000).`,
		example: "unisi ivr set 5000 -prompt ivr-5000 -key 1=queue:5000 -key 2=transfer:5002 -key 9=voicemail:5002 -key 0=repeat -ontimeout hangup\nunisi ivr set night -prompt closed -key 1=voicemail:5002 -timeout 10s -retries 1",
		setup:   ivrSetSetup,
	},
	{
		name: "ivr list", section: "Media box", max: 0,
		summary: "list the IVR menus with their keys",
		detail:  `"-" is the box's default (timeout 5s, 2 retries, hang up on timeout).`,
		example: "unisi ivr list\nunisi ivr list -json",
		setup:   ivrListSetup,
	},
	{
		name: "ivr show", args: "ID", section: "Media box", min: 1, max: 1,
		summary: "show an IVR menu and its keys",
		detail:  `"-" is the box's default (timeout 5s, 2 retries, hang up on timeout).`,
		example: "unisi ivr show 5000",
		setup:   ivrShowSetup,
	},
	{
		name: "ivr del", args: "ID", section: "Media box", min: 1, max: 1,
		summary: "delete an IVR menu (a key of another menu leading to it is named in a warning)",
		example: "unisi ivr del night",
		setup:   mediaboxDelSetup("menu"),
	},
	{
		name: "queue set", args: "ID -members N1,N2,...", section: "Media box", min: 1, max: 1,
		summary: "create or replace a call queue (QUEUE_<ID>) and its agents",
		detail: `The queue is replaced whole: give every flag each time. Members are rung in
the order given (roundrobin starts after the agent who took the last
call); a member already in the queue keeps its log-in state, a new one
starts logged in. -ontimeout takes an action as 'ivr set' does
(transfer:NUMBER, menu:ID, voicemail:USER, queue:ID, hangup). Durations
are whole seconds. A running server sees the change through the store's
change counter.`,
		example: "unisi queue set 5000 -members 5002,5003 -music moh\nunisi queue set help -members 5003,5004 -strategy roundrobin -announce -ring 20s -maxwait 3m -ontimeout voicemail:5002",
		setup:   queueSetSetup,
	},
	{
		name: "queue list", section: "Media box", max: 0,
		summary: "list the call queues, their members and the agents logged in",
		detail:  `"-" is the box's default (ring all, music moh, ring 15s, wait 5m, hang up).`,
		example: "unisi queue list\nunisi queue list -json",
		setup:   queueListSetup,
	},
	{
		name: "queue show", args: "ID", section: "Media box", min: 1, max: 1,
		summary: "show a call queue and its members in ring order",
		detail:  `"-" is the box's default (ring all, music moh, ring 15s, wait 5m, hang up).`,
		example: "unisi queue show 5000",
		setup:   queueShowSetup,
	},
	{
		name: "queue del", args: "ID", section: "Media box", min: 1, max: 1,
		summary: "delete a call queue (a menu key leading to it is named in a warning)",
		example: "unisi queue del help",
		setup:   mediaboxDelSetup("queue"),
	},
	{
		name: "queue login", args: "ID NUMBER", section: "Media box", min: 2, max: 2,
		summary: "log a member of a queue in: the queue rings it",
		detail:  `Agents do the same from their phone with the feature codes (AGENTIN_<ID>).`,
		example: "unisi queue login 5000 5003",
		setup:   queueAgentSetup(true),
	},
	{
		name: "queue logout", args: "ID NUMBER", section: "Media box", min: 2, max: 2,
		summary: "log a member of a queue out: the queue stops ringing it",
		detail:  `Agents do the same from their phone with the feature codes (AGENTOUT_<ID>).`,
		example: "unisi queue logout 5000 5003",
		setup:   queueAgentSetup(false),
	},
	{
		name: "voicemail set", args: "USER [-pin DIGITS] [-email ADDRESS]", section: "Media box", min: 1, max: 1,
		summary: "create a voicemail box (VM_<USER>) or change its PIN or e-mail address",
		detail: `Only the flags given change; the user's recorded greeting and messages
stay. The PIN (4 to 8 digits) opens the box from the voicemail menu; a box
without one takes messages but its menu stays shut. With -email, each new
message is mailed there with its WAV attached. -pin '' or -email '' clear
them. A USER with no account is stored with a warning.`,
		example: "unisi voicemail set 5002 -pin 4711 -email mario.rossi@unisi.it\nunisi voicemail set 5002 -email ''",
		setup:   voicemailSetSetup,
	},
	{
		name: "voicemail show", args: "USER", section: "Media box", min: 1, max: 1,
		summary: "show a voicemail box and its messages, oldest first",
		detail:  `Times are UTC; the PIN is shown as (set) or none.`,
		example: "unisi voicemail show 5002",
		setup:   voicemailShowSetup,
	},
	{
		name: "voicemail del", args: "USER ID", section: "Media box", min: 2, max: 2,
		summary: "delete a voice message by its ID (voicemail show lists them)",
		detail: `The account's message lamp follows: its counts are written for a
running server to NOTIFY within [store] poll. The message's WAV file is
removed from the box's spool ([mediabox] spool).`,
		example: "unisi voicemail del 5002 7",
		setup:   voicemailDelSetup,
	},
}

// mediaboxError is a value the library refused, as a usage error
// without the package's prefix (Validate wraps ParseAction's error, so
// it may appear twice).
func mediaboxError(err error) error {
	return usagef("%s", strings.ReplaceAll(err.Error(), "mediabox: ", ""))
}

// keyFlags collects the repeatable -key KEY=ACTION.
type keyFlags []string

func (k *keyFlags) String() string { return strings.Join(*k, " ") }

func (k *keyFlags) Set(v string) error {
	*k = append(*k, v)
	return nil
}

// keyOrder is the order keys are listed in.
const keyOrder = "0123456789*#"

// sortedKeys returns a menu's keys in keyOrder (others last, by name).
func sortedKeys(keys map[string]mediabox.Action) []string {
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	rank := func(k string) int {
		if len(k) == 1 && strings.Contains(keyOrder, k) {
			return strings.Index(keyOrder, k)
		}
		return len(keyOrder)
	}
	slices.SortFunc(out, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return out
}

// durationOrDefault and retriesString show a value left to the box's
// default as "" (a table's "-").
func durationOrDefault(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func retriesString(n int) string {
	switch n {
	case 0:
		return ""
	case mediabox.NoRetries:
		return "none"
	}
	return strconv.Itoa(n)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// parseOnTimeout reads an -ontimeout flag ("" is the default).
func parseOnTimeout(s string) (mediabox.Action, error) {
	if s == "" {
		return mediabox.Action{}, nil
	}
	a, err := mediabox.ParseAction(s)
	if err != nil {
		return a, mediaboxError(fmt.Errorf("-ontimeout: %w", err))
	}
	return a, nil
}

// checkTarget warns when a leads to a menu, queue or mailbox the store
// does not have; where names the action ("key 2").
func checkTarget(ctx context.Context, e *env, st *sqlstore.MediaBoxStore, owner, where string, a mediabox.Action) error {
	var err error
	var what, cmd string
	switch a.Kind {
	case mediabox.GoMenu:
		_, err = st.Menu(ctx, a.Arg)
		what, cmd = "menu", "ivr set"
	case mediabox.GoQueue:
		_, err = st.Queue(ctx, a.Arg)
		what, cmd = "queue", "queue set"
	case mediabox.Voicemail:
		_, err = st.Mailbox(ctx, a.Arg)
		what, cmd = "mailbox", "voicemail set"
	default:
		return nil
	}
	if errors.Is(err, mediabox.ErrNotFound) {
		e.warnf("%s %s: no %s %s yet ('unisi %s %s' creates it)", owner, where, what, a.Arg, cmd, a.Arg)
		return nil
	}
	return err
}

func ivrSetSetup(fs *flag.FlagSet) runner {
	prompt := fs.String("prompt", "", "the prompt played: a name of the box's prompt set, or a site prompt file's name without .wav")
	var keys keyFlags
	fs.Var(&keys, "key", "`KEY=ACTION`, once per key: 1=transfer:5002, 2=menu:ID, 9=voicemail:USER, 3=queue:ID, 0=repeat, #=hangup")
	timeout := fs.Duration("timeout", 0, "how long the menu waits for a key after the prompt, whole seconds up to 1m (0: the box's default, 5s)")
	retries := fs.Int("retries", 0, "how many times the menu plays again after a timeout or a wrong key (0: the box's default, 2; -1: none)")
	onTimeout := fs.String("ontimeout", "", "what happens when no valid key is pressed, an ACTION (default: goodbye and hang up)")
	return func(ctx context.Context, e *env, args []string) error {
		m := mediabox.Menu{ID: args[0], Prompt: *prompt, Timeout: *timeout, Retries: *retries, Keys: map[string]mediabox.Action{}}
		for _, kv := range keys {
			k, a, ok := strings.Cut(kv, "=")
			if !ok {
				return usagef("-key %q: want KEY=ACTION, e.g. 1=transfer:5002", kv)
			}
			if _, dup := m.Keys[k]; dup {
				return usagef("-key %s given twice", k)
			}
			act, err := mediabox.ParseAction(a)
			if err != nil {
				return mediaboxError(fmt.Errorf("key %s: %w", k, err))
			}
			m.Keys[k] = act
		}
		var err error
		if m.OnTimeout, err = parseOnTimeout(*onTimeout); err != nil {
			return err
		}
		if err := m.Validate(); err != nil {
			return mediaboxError(err)
		}
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		checkPrompts(e, cfg, func(p *mediabox.Prompts) error { return p.CheckMenu(m) })
		st := db.MediaBox()
		verb := "added"
		old, err := st.Menu(ctx, m.ID)
		switch {
		case err == nil:
			verb = "replaced"
			if menuEqual(old, m) {
				fmt.Fprintf(e.out, "unchanged menu %s\n", m.ID)
				return nil
			}
		case !errors.Is(err, mediabox.ErrNotFound):
			return err
		}
		for _, k := range sortedKeys(m.Keys) {
			if m.Keys[k].Kind == mediabox.GoMenu && m.Keys[k].Arg == m.ID {
				continue
			}
			if err := checkTarget(ctx, e, st, "menu "+m.ID, "key "+k, m.Keys[k]); err != nil {
				return err
			}
		}
		if err := checkTarget(ctx, e, st, "menu "+m.ID, "on timeout", m.OnTimeout); err != nil {
			return err
		}
		if err := st.PutMenu(ctx, m); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%s menu %s (%s)\n", verb, m.ID, plural(len(m.Keys), "key"))
		return nil
	}
}

func menuEqual(a, b mediabox.Menu) bool {
	if a.ID != b.ID || a.Prompt != b.Prompt || a.Timeout != b.Timeout || a.Retries != b.Retries || a.OnTimeout != b.OnTimeout || len(a.Keys) != len(b.Keys) {
		return false
	}
	for k, v := range a.Keys {
		if w, ok := b.Keys[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// menuKeys lists a menu's keys as KEY=ACTION.
func menuKeys(m mediabox.Menu) []string {
	out := []string{}
	for _, k := range sortedKeys(m.Keys) {
		out = append(out, k+"="+m.Keys[k].String())
	}
	return out
}

func ivrListSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		menus, err := db.MediaBox().Menus(ctx)
		if err != nil {
			return err
		}
		t := newTable("id", "prompt", "timeout", "retries", "ontimeout", "keys")
		for _, m := range menus {
			t.row(m.ID, m.Prompt, durationOrDefault(m.Timeout), retriesString(m.Retries), m.OnTimeout.String(), menuKeys(m))
		}
		return t.write(e.out, *asJSON)
	}
}

// field is one line of a show command's FIELD VALUE table.
type field struct {
	name  string
	value any
}

// writeShow prints a record: its fields as a FIELD VALUE table, a blank
// line and its rows (or none, when there are none); with asJSON an
// object of the fields and, under listName, the rows.
func writeShow(w io.Writer, asJSON bool, fields []field, listName string, rows *table, none string) error {
	if asJSON {
		obj := map[string]any{}
		for _, f := range fields {
			obj[f.name] = f.value
		}
		list := []map[string]any{}
		for _, r := range rows.rows {
			o := map[string]any{}
			for i, c := range rows.cols {
				o[c] = r[i]
			}
			list = append(list, o)
		}
		obj[listName] = list
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(obj)
	}
	kv := newTable("field", "value")
	for _, f := range fields {
		kv.row(f.name, f.value)
	}
	if err := kv.write(w, false); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(rows.rows) == 0 {
		fmt.Fprintln(w, none)
		return nil
	}
	return rows.write(w, false)
}

func ivrShowSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		m, err := db.MediaBox().Menu(ctx, args[0])
		if errors.Is(err, mediabox.ErrNotFound) {
			return fmt.Errorf("no menu %q ('unisi ivr list' shows them)", args[0])
		}
		if err != nil {
			return err
		}
		keys := newTable("key", "action")
		for _, k := range sortedKeys(m.Keys) {
			keys.row(k, m.Keys[k].String())
		}
		return writeShow(e.out, *asJSON, []field{
			{"id", m.ID}, {"prompt", m.Prompt}, {"timeout", durationOrDefault(m.Timeout)},
			{"retries", retriesString(m.Retries)}, {"ontimeout", m.OnTimeout.String()},
		}, "keys", keys, "no keys")
	}
}

// references names the menu keys that lead to the menu or queue id.
func references(ctx context.Context, st *sqlstore.MediaBoxStore, kind mediabox.ActionKind, id string) ([]string, error) {
	menus, err := st.Menus(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range menus {
		for _, k := range sortedKeys(m.Keys) {
			if a := m.Keys[k]; a.Kind == kind && a.Arg == id && !(kind == mediabox.GoMenu && m.ID == id) {
				out = append(out, "menu "+m.ID+" key "+k)
			}
		}
		if m.OnTimeout.Kind == kind && m.OnTimeout.Arg == id && !(kind == mediabox.GoMenu && m.ID == id) {
			out = append(out, "menu "+m.ID+" on timeout")
		}
	}
	if kind == mediabox.GoQueue {
		queues, err := st.Queues(ctx)
		if err != nil {
			return nil, err
		}
		for _, q := range queues {
			if q.ID != id && q.OnTimeout.Kind == kind && q.OnTimeout.Arg == id {
				out = append(out, "queue "+q.ID+" on timeout")
			}
		}
	}
	return out, nil
}

// mediaboxDelSetup is `ivr del` (what "menu") and `queue del` ("queue").
func mediaboxDelSetup(what string) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, e *env, args []string) error {
			_, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.MediaBox()
			id := args[0]
			kind, del, list := mediabox.GoMenu, st.DeleteMenu, "ivr list"
			if what == "queue" {
				kind, del, list = mediabox.GoQueue, st.DeleteQueue, "queue list"
			}
			if err := del(ctx, id); errors.Is(err, mediabox.ErrNotFound) {
				return fmt.Errorf("no %s %q ('unisi %s' shows them)", what, id, list)
			} else if err != nil {
				return err
			}
			refs, err := references(ctx, st, kind, id)
			if err != nil {
				return err
			}
			for _, r := range refs {
				e.warnf("%s still leads to %s %s", r, what, id)
			}
			fmt.Fprintf(e.out, "deleted %s %s\n", what, id)
			return nil
		}
	}
}

func queueSetSetup(fs *flag.FlagSet) runner {
	members := fs.String("members", "", "the agents' numbers in ring order, comma-separated")
	strategy := fs.String("strategy", "", "ringall (every agent at once; the default) or roundrobin (one at a time)")
	music := fs.String("music", "", "the prompt played while callers wait (default: moh)")
	announce := fs.Bool("announce", false, "tell callers their place in the queue")
	ring := fs.Duration("ring", 0, "how long agents ring before the next try, whole seconds up to 5m (0: the box's default, 15s)")
	maxWait := fs.Duration("maxwait", 0, "how long a caller waits at most, whole seconds up to 1h (0: the box's default, 5m)")
	onTimeout := fs.String("ontimeout", "", "what happens after -maxwait, an ACTION as in 'ivr set' (default: goodbye and hang up)")
	return func(ctx context.Context, e *env, args []string) error {
		q := mediabox.Queue{ID: args[0], Strategy: mediabox.Strategy(*strategy), Music: *music, AnnouncePosition: *announce,
			RingTimeout: *ring, MaxWait: *maxWait}
		for _, n := range splitCSV(*members) {
			q.Members = append(q.Members, mediabox.Member{Number: n, LoggedIn: true})
		}
		var err error
		if q.OnTimeout, err = parseOnTimeout(*onTimeout); err != nil {
			return err
		}
		if err := q.Validate(); err != nil {
			return mediaboxError(err)
		}
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		checkPrompts(e, cfg, func(p *mediabox.Prompts) error { return p.CheckQueue(q) })
		st := db.MediaBox()
		verb := "added"
		old, err := st.Queue(ctx, q.ID)
		switch {
		case err == nil:
			verb = "replaced"
			state := map[string]bool{}
			for _, m := range old.Members {
				state[m.Number] = m.LoggedIn
			}
			for i, m := range q.Members {
				if in, ok := state[m.Number]; ok {
					q.Members[i].LoggedIn = in
				}
			}
		case !errors.Is(err, mediabox.ErrNotFound):
			return err
		}
		if q.OnTimeout.Kind != mediabox.GoQueue || q.OnTimeout.Arg != q.ID {
			if err := checkTarget(ctx, e, st, "queue "+q.ID, "on timeout", q.OnTimeout); err != nil {
				return err
			}
		}
		if err := st.PutQueue(ctx, q); err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%s queue %s (%s, %d logged in)\n", verb, q.ID, plural(len(q.Members), "member"), len(loggedIn(q)))
		return nil
	}
}

// plural is "1 key", "2 keys".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// loggedIn returns the numbers of the queue's agents logged in.
func loggedIn(q mediabox.Queue) []string {
	out := []string{}
	for _, m := range q.Members {
		if m.LoggedIn {
			out = append(out, m.Number)
		}
	}
	return out
}

func memberNumbers(q mediabox.Queue) []string {
	out := []string{}
	for _, m := range q.Members {
		out = append(out, m.Number)
	}
	return out
}

func queueListSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		queues, err := db.MediaBox().Queues(ctx)
		if err != nil {
			return err
		}
		t := newTable("id", "strategy", "music", "announce", "ring", "maxwait", "ontimeout", "members", "logged_in")
		for _, q := range queues {
			t.row(q.ID, string(q.Strategy), q.Music, onOff(q.AnnouncePosition), durationOrDefault(q.RingTimeout),
				durationOrDefault(q.MaxWait), q.OnTimeout.String(), memberNumbers(q), loggedIn(q))
		}
		return t.write(e.out, *asJSON)
	}
}

func queueShowSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		q, err := db.MediaBox().Queue(ctx, args[0])
		if errors.Is(err, mediabox.ErrNotFound) {
			return fmt.Errorf("no queue %q ('unisi queue list' shows them)", args[0])
		}
		if err != nil {
			return err
		}
		members := newTable("position", "number", "agent")
		for i, m := range q.Members {
			members.row(i+1, m.Number, map[bool]string{true: "logged-in", false: "logged-out"}[m.LoggedIn])
		}
		return writeShow(e.out, *asJSON, []field{
			{"id", q.ID}, {"strategy", string(q.Strategy)}, {"music", q.Music}, {"announce", onOff(q.AnnouncePosition)},
			{"ring", durationOrDefault(q.RingTimeout)}, {"maxwait", durationOrDefault(q.MaxWait)}, {"ontimeout", q.OnTimeout.String()},
		}, "members", members, "no members")
	}
}

func queueAgentSetup(in bool) func(fs *flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, e *env, args []string) error {
			_, db, err := e.store(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.MediaBox()
			id, number := args[0], args[1]
			err = st.SetAgent(ctx, id, number, in)
			if errors.Is(err, mediabox.ErrNotFound) {
				q, qerr := st.Queue(ctx, id)
				if qerr != nil {
					return fmt.Errorf("no queue %q ('unisi queue list' shows them)", id)
				}
				return fmt.Errorf("%s is not a member of queue %s (members: %s; 'unisi queue set' changes them)", number, id, strings.Join(memberNumbers(q), ","))
			}
			if err != nil {
				return err
			}
			if in {
				fmt.Fprintf(e.out, "logged in %s to queue %s\n", number, id)
			} else {
				fmt.Fprintf(e.out, "logged out %s from queue %s\n", number, id)
			}
			return nil
		}
	}
}

func voicemailSetSetup(fs *flag.FlagSet) runner {
	pin := fs.String("pin", "", "the PIN that opens the box from the voicemail menu, 4 to 8 digits ('' clears it)")
	email := fs.String("email", "", "an address each new message is mailed to, with its WAV ('' clears it)")
	return func(ctx context.Context, e *env, args []string) error {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		user := args[0]
		// The flags alone first: a bad PIN is refused before the
		// database is opened.
		probe := mediabox.Mailbox{User: user, PIN: *pin, Email: *email}
		if err := probe.Validate(); err != nil {
			return mediaboxError(err)
		}
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		st := db.MediaBox()
		b, err := st.Mailbox(ctx, user)
		isNew := errors.Is(err, mediabox.ErrNotFound)
		if err != nil && !isNew {
			return err
		}
		b.User = user
		var changed []string
		if given["pin"] && b.PIN != *pin {
			b.PIN = *pin
			changed = append(changed, "pin")
		}
		if given["email"] && b.Email != *email {
			b.Email = *email
			changed = append(changed, "email")
		}
		if !isNew && len(changed) == 0 {
			fmt.Fprintf(e.out, "unchanged mailbox %s\n", user)
			return nil
		}
		if isNew {
			dom := domainOf(cfg)
			if ok, err := accountExists(ctx, db.Subscribers(-1), user, dom); err != nil {
				return err
			} else if !ok {
				e.warnf("no account %s@%s (the box takes messages for VM_%s all the same)", user, dom, user)
			}
		}
		if err := st.PutMailbox(ctx, b); err != nil {
			return err
		}
		if isNew {
			fmt.Fprintf(e.out, "added mailbox %s pin=%s email=%s\n", user, pinText(b.PIN), orNone(b.Email))
			return nil
		}
		fmt.Fprintf(e.out, "changed mailbox %s %s\n", user, strings.Join(changed, " "))
		return nil
	}
}

// pinText shows a PIN without its digits, as config print shows secrets.
func pinText(pin string) string {
	if pin == "" {
		return "none"
	}
	return "(set)"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// messageState is a message's STATE column.
func messageState(m mediabox.Message) string {
	if m.Heard {
		return "heard"
	}
	return "new"
}

// messageCounts returns a mailbox's new and heard messages.
func messageCounts(msgs []mediabox.Message) (newMsgs, heard int) {
	for _, m := range msgs {
		if m.Heard {
			heard++
		} else {
			newMsgs++
		}
	}
	return newMsgs, heard
}

func voicemailShowSetup(fs *flag.FlagSet) runner {
	asJSON := jsonFlag(fs)
	return func(ctx context.Context, e *env, args []string) error {
		_, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		st := db.MediaBox()
		user := args[0]
		b, err := st.Mailbox(ctx, user)
		if errors.Is(err, mediabox.ErrNotFound) {
			return fmt.Errorf("no mailbox %q ('unisi voicemail set %s' creates it)", user, user)
		}
		if err != nil {
			return err
		}
		msgs, err := st.Messages(ctx, user)
		if err != nil {
			return err
		}
		t := newTable("id", "caller", "time", "duration", "state")
		for _, m := range msgs {
			t.row(m.ID, m.Caller, m.Time.UTC().Format("2006-01-02 15:04:05Z"), m.Duration.Round(time.Second).String(), messageState(m))
		}
		n, h := messageCounts(msgs)
		greeting := b.Greeting
		if greeting == "" {
			greeting = "default"
		}
		return writeShow(e.out, *asJSON, []field{
			{"user", b.User}, {"pin", pinText(b.PIN)}, {"email", b.Email}, {"greeting", greeting}, {"new", n}, {"heard", h},
		}, "messages", t, "no messages")
	}
}

func voicemailDelSetup(fs *flag.FlagSet) runner {
	return func(ctx context.Context, e *env, args []string) error {
		user := args[0]
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return usagef("ID %q is not a number", args[1])
		}
		cfg, db, err := e.store(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		st := db.MediaBox()
		var fe *mediabox.FileError
		switch err := mediabox.RemoveMessage(ctx, st, cfg.MediaBox.spool(cfg.Store), user, id); {
		case errors.Is(err, mediabox.ErrNotFound):
			return fmt.Errorf("no message %d in mailbox %s ('unisi voicemail show %s' lists them)", id, user, user)
		case errors.As(err, &fe):
			e.warnf("%v", fe)
		case err != nil:
			return err
		}
		msgs, err := st.Messages(ctx, user)
		if err != nil {
			return err
		}
		n, h := messageCounts(msgs)
		// The lamp follows, as the box makes it follow a message heard or
		// deleted through the voicemail menu.
		lamp := presence.Mailbox{User: user, Domain: domainOf(cfg), New: n, Old: h}
		if err := presence.CheckMailbox(lamp); err == nil {
			if err := db.Mailboxes().PutMailbox(ctx, lamp); err != nil {
				e.warnf("the message lamp's counts were not written: %v", err)
			}
		}
		fmt.Fprintf(e.out, "deleted message %d from mailbox %s (%d new, %d heard left)\n", id, user, n, h)
		return nil
	}
}

// checkPrompts warns when check finds a prompt missing from the prompt
// set of the configured box (the built-in prompts and [mediabox]
// prompts): the box serving the menu may have other site prompts, so it
// is stored all the same.
func checkPrompts(e *env, cfg Config, check func(*mediabox.Prompts) error) {
	var site fs.FS
	if dir := cfg.MediaBox.Prompts; dir != "" {
		site = os.DirFS(dir)
	}
	p, err := mediabox.LoadPrompts(site)
	if err != nil {
		e.warnf("prompts not checked: %v", err)
		return
	}
	if err := check(p); err != nil {
		e.warnf("%v", err)
	}
}
