// Package mediaboxtest is the conformance suite every mediabox.Store
// passes.
package mediaboxtest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/mediabox"
)

// TestStore checks a Store: menus stored with every field, replaced
// whole, listed by ID (IDs compare byte for byte: "Main" is not "main"),
// deleted; mailboxes stored and replaced without losing their messages;
// messages numbered in increasing order (an ID is never given twice, not
// even after the newest message was deleted), listed oldest first with
// their time to the millisecond, marked heard and deleted only through
// their own mailbox; queues stored with their members in order, agents
// logged in and out one by one; invalid menus, mailboxes and queues
// refused (Validate) without touching what was stored; the values handed
// in and out not shared with the store; and all of it from several
// goroutines at once. Unknown names and IDs are mediabox.ErrNotFound
// (errors.Is). newStore returns an empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) mediabox.Store) {
	t.Run("menus round trip", func(t *testing.T) { testMenus(t, newStore(t)) })
	t.Run("menus listed by ID", func(t *testing.T) { testMenuOrder(t, newStore(t)) })
	t.Run("menus replaced and deleted", func(t *testing.T) { testMenuReplace(t, newStore(t)) })
	t.Run("menus refused", func(t *testing.T) { testMenuRefused(t, newStore(t)) })
	t.Run("mailboxes", func(t *testing.T) { testMailboxes(t, newStore(t)) })
	t.Run("messages", func(t *testing.T) { testMessages(t, newStore(t)) })
	t.Run("queues round trip", func(t *testing.T) { testQueues(t, newStore(t)) })
	t.Run("queues replaced and deleted", func(t *testing.T) { testQueueReplace(t, newStore(t)) })
	t.Run("queues refused", func(t *testing.T) { testQueueRefused(t, newStore(t)) })
	t.Run("agents", func(t *testing.T) { testAgents(t, newStore(t)) })
	t.Run("names compared exactly", func(t *testing.T) { testExactNames(t, newStore(t)) })
	t.Run("concurrent use", func(t *testing.T) { testConcurrent(t, newStore(t)) })
}

func act(t *testing.T, s string) mediabox.Action {
	t.Helper()
	a, err := mediabox.ParseAction(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fullMenu uses every field and every kind of action.
func fullMenu(t *testing.T) mediabox.Menu {
	return mediabox.Menu{
		ID: "5000", Prompt: "ivr-5000",
		Keys: map[string]mediabox.Action{
			"1": act(t, "queue:5000"), "2": act(t, "transfer:5002"), "3": act(t, "menu:sub"),
			"9": act(t, "voicemail:5002"), "0": act(t, "repeat"), "*": act(t, "hangup"), "#": act(t, "transfer:0577232111"),
		},
		Timeout: 7 * time.Second, Retries: 3, OnTimeout: act(t, "transfer:5001"),
	}
}

func checkMenu(t *testing.T, s mediabox.Store, want mediabox.Menu) {
	t.Helper()
	got, err := s.Menu(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("menu %s: %v", want.ID, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("menu %s: got %+v\nwant %+v", want.ID, got, want)
	}
}

func menuIDs(t *testing.T, s mediabox.Store) []string {
	t.Helper()
	all, err := s.Menus(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	return ids
}

func testMenus(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	full := fullMenu(t)
	// The least a menu can be: one key, the defaults left zero.
	least := mediabox.Menu{ID: "sub", Prompt: "sub-menu", Keys: map[string]mediabox.Action{"1": act(t, "transfer:5003")}}
	for _, m := range []mediabox.Menu{full, least} {
		if err := s.PutMenu(ctx, m); err != nil {
			t.Fatalf("put %s: %v", m.ID, err)
		}
	}
	checkMenu(t, s, full)
	checkMenu(t, s, least)
	all, err := s.Menus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []mediabox.Menu{full, least}; !reflect.DeepEqual(all, want) {
		t.Errorf("menus: got %+v\nwant %+v", all, want)
	}
	if _, err := s.Menu(ctx, "5001"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("an unknown menu: %v, want ErrNotFound", err)
	}

	// A menu played once only keeps its NoRetries (not read back as the
	// default).
	once := mediabox.Menu{ID: "once", Prompt: "sub-menu", Retries: mediabox.NoRetries, Keys: map[string]mediabox.Action{"1": act(t, "hangup")}}
	if err := s.PutMenu(ctx, once); err != nil {
		t.Fatalf("put once: %v", err)
	}
	checkMenu(t, s, once)
	if err := s.DeleteMenu(ctx, "once"); err != nil {
		t.Fatal(err)
	}

	// What a caller does with the maps it handed in or got back is its
	// own business.
	in := fullMenu(t)
	in.ID = "copy"
	if err := s.PutMenu(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Keys["1"] = act(t, "hangup")
	delete(in.Keys, "2")
	got, err := s.Menu(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	got.Keys["3"] = act(t, "hangup")
	want := fullMenu(t)
	want.ID = "copy"
	checkMenu(t, s, want)
	all, _ = s.Menus(ctx)
	for _, m := range all {
		clear(m.Keys)
	}
	checkMenu(t, s, want)
}

func testMenuOrder(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	if ids := menuIDs(t, s); len(ids) != 0 {
		t.Fatalf("an empty store lists %v", ids)
	}
	for _, id := range []string{"main", "sub", "Main", "9", "10", "main-2", "main_2"} {
		m := mediabox.Menu{ID: id, Prompt: "p-" + id, Keys: map[string]mediabox.Action{"1": act(t, "menu:"+id)}}
		if err := s.PutMenu(ctx, m); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	// Byte order, as sort.Strings: digits, capitals, "-" before "_",
	// then small letters.
	if got, want := menuIDs(t, s), []string{"10", "9", "Main", "main", "main-2", "main_2", "sub"}; !slices.Equal(got, want) {
		t.Errorf("menus listed %v, want %v", got, want)
	}
	// Two IDs that differ in case are two menus.
	for _, id := range []string{"Main", "main"} {
		if m, err := s.Menu(ctx, id); err != nil || m.Prompt != "p-"+id {
			t.Errorf("menu %s: got %+v %v, want its own prompt p-%s", id, m, err, id)
		}
	}
	if _, err := s.Menu(ctx, "MAIN"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("menu MAIN (main and Main exist): %v, want ErrNotFound", err)
	}
	if err := s.DeleteMenu(ctx, "MAIN"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting MAIN: %v, want ErrNotFound", err)
	}
	if err := s.DeleteMenu(ctx, "Main"); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Menu(ctx, "main"); err != nil || m.Prompt != "p-main" {
		t.Errorf("deleting Main: main is %+v %v", m, err)
	}
}

func testMenuReplace(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	if err := s.PutMenu(ctx, fullMenu(t)); err != nil {
		t.Fatal(err)
	}
	other := mediabox.Menu{ID: "other", Prompt: "other", Keys: map[string]mediabox.Action{"1": act(t, "repeat")}}
	if err := s.PutMenu(ctx, other); err != nil {
		t.Fatal(err)
	}
	// Replaced whole: the keys not given are gone, the zero values kept
	// as zero.
	less := mediabox.Menu{ID: "5000", Prompt: "ivr-5000-night", Keys: map[string]mediabox.Action{"1": act(t, "voicemail:5002"), "5": act(t, "hangup")}}
	if err := s.PutMenu(ctx, less); err != nil {
		t.Fatal(err)
	}
	checkMenu(t, s, less)
	checkMenu(t, s, other)
	if err := s.DeleteMenu(ctx, "5000"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Menu(ctx, "5000"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("a deleted menu: %v, want ErrNotFound", err)
	}
	if err := s.DeleteMenu(ctx, "5000"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if err := s.DeleteMenu(ctx, "nosuch"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting an unknown menu: %v, want ErrNotFound", err)
	}
	if got, want := menuIDs(t, s), []string{"other"}; !slices.Equal(got, want) {
		t.Errorf("after deleting 5000: %v, want %v", got, want)
	}
	checkMenu(t, s, other)
	// A menu put again under a deleted one's ID has only its own keys.
	again := mediabox.Menu{ID: "5000", Prompt: "ivr-5000", Keys: map[string]mediabox.Action{"7": act(t, "menu:other")}}
	if err := s.PutMenu(ctx, again); err != nil {
		t.Fatal(err)
	}
	checkMenu(t, s, again)
}

func testMenuRefused(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	good := fullMenu(t)
	if err := s.PutMenu(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := func(f func(m *mediabox.Menu)) mediabox.Menu {
		m := fullMenu(t)
		f(&m)
		return m
	}
	for _, tt := range []struct {
		name string
		m    mediabox.Menu
	}{
		{"no ID", bad(func(m *mediabox.Menu) { m.ID = "" })},
		{"an ID with a space", bad(func(m *mediabox.Menu) { m.ID = "50 00" })},
		{"no prompt", bad(func(m *mediabox.Menu) { m.Prompt = "" })},
		{"a prompt path", bad(func(m *mediabox.Menu) { m.Prompt = "../etc/passwd" })},
		{"no keys", bad(func(m *mediabox.Menu) { m.Keys = nil })},
		{"a key of two digits", bad(func(m *mediabox.Menu) { m.Keys["12"] = mediabox.Action{Kind: mediabox.Repeat} })},
		{"a letter key", bad(func(m *mediabox.Menu) { m.Keys["a"] = mediabox.Action{Kind: mediabox.Repeat} })},
		{"an unknown action", bad(func(m *mediabox.Menu) { m.Keys["1"] = mediabox.Action{Kind: "dial", Arg: "5002"} })},
		{"a transfer to nowhere", bad(func(m *mediabox.Menu) { m.Keys["1"] = mediabox.Action{Kind: mediabox.Transfer} })},
		{"a repeat with an argument", bad(func(m *mediabox.Menu) { m.Keys["0"] = mediabox.Action{Kind: mediabox.Repeat, Arg: "2"} })},
		{"a timeout in fractions", bad(func(m *mediabox.Menu) { m.Timeout = 1500 * time.Millisecond })},
		{"a timeout over a minute", bad(func(m *mediabox.Menu) { m.Timeout = 2 * time.Minute })},
		{"negative retries", bad(func(m *mediabox.Menu) { m.Retries = mediabox.NoRetries - 1 })},
		{"too many retries", bad(func(m *mediabox.Menu) { m.Retries = mediabox.MaxRetries + 1 })},
		{"a bad timeout action", bad(func(m *mediabox.Menu) { m.OnTimeout = mediabox.Action{Kind: mediabox.GoMenu, Arg: "a b"} })},
	} {
		if err := s.PutMenu(ctx, tt.m); err == nil {
			t.Errorf("%s: %+v stored, want refused", tt.name, tt.m)
		}
	}
	checkMenu(t, s, good)
	if got, want := menuIDs(t, s), []string{"5000"}; !slices.Equal(got, want) {
		t.Errorf("refused menus left %v, want %v", got, want)
	}
}

func testMailboxes(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	if _, err := s.Mailbox(ctx, "5002"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("an unknown mailbox: %v, want ErrNotFound", err)
	}
	full := mediabox.Mailbox{User: "5002", PIN: "1234", Email: "mario.rossi@unisi.it", Greeting: "greeting-5002.wav"}
	least := mediabox.Mailbox{User: "5003"}
	for _, b := range []mediabox.Mailbox{full, least} {
		if err := s.PutMailbox(ctx, b); err != nil {
			t.Fatalf("put %s: %v", b.User, err)
		}
	}
	check := func(want mediabox.Mailbox) {
		t.Helper()
		if got, err := s.Mailbox(ctx, want.User); err != nil || got != want {
			t.Errorf("mailbox %s: got %+v %v, want %+v", want.User, got, err, want)
		}
	}
	check(full)
	check(least)
	m, err := s.AddMessage(ctx, mediabox.Message{Mailbox: "5002", Caller: "5003", Time: time.UnixMilli(1741944413589), Duration: 4 * time.Second, File: "msg-1.wav"})
	if err != nil {
		t.Fatal(err)
	}
	// Replaced: the fields not given are emptied; the messages stay.
	changed := mediabox.Mailbox{User: "5002", PIN: "98765432"}
	if err := s.PutMailbox(ctx, changed); err != nil {
		t.Fatal(err)
	}
	check(changed)
	check(least)
	if msgs, err := s.Messages(ctx, "5002"); err != nil || len(msgs) != 1 || msgs[0].ID != m.ID {
		t.Errorf("after replacing the mailbox its messages are %+v %v, want message %d", msgs, err, m.ID)
	}
	for _, b := range []mediabox.Mailbox{
		{User: ""},
		{User: "50 02"},
		{User: "5002", PIN: "123"},
		{User: "5002", PIN: "12a4"},
		{User: "5002", PIN: "123456789"},
		{User: "5002", Email: "mario"},
		{User: "5002", Email: "mario rossi@unisi.it"},
		{User: "5002", Email: "a@b@c"},
		{User: "5002", Greeting: "../5003/greeting.wav"},
		{User: "5002", Greeting: "greeting.mp3"},
	} {
		if err := s.PutMailbox(ctx, b); err == nil {
			t.Errorf("%+v stored, want refused", b)
		}
	}
	check(changed)
	if _, err := s.Mailbox(ctx, "50 02"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("a refused mailbox: %v, want ErrNotFound", err)
	}
}

// sameMessage compares every field, the times as instants (a store may
// give them back in another location).
func sameMessage(got, want mediabox.Message) bool {
	return got.ID == want.ID && got.Mailbox == want.Mailbox && got.Caller == want.Caller && got.Time.Equal(want.Time) &&
		got.Duration == want.Duration && got.File == want.File && got.Heard == want.Heard
}

func checkMessages(t *testing.T, s mediabox.Store, user string, want ...mediabox.Message) {
	t.Helper()
	got, err := s.Messages(t.Context(), user)
	if err != nil {
		t.Fatalf("messages of %s: %v", user, err)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameMessage(got[i], want[i])
	}
	if !ok {
		t.Errorf("messages of %s:\ngot  %+v\nwant %+v", user, got, want)
	}
}

func testMessages(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	for _, u := range []string{"5002", "5003"} {
		if err := s.PutMailbox(ctx, mediabox.Mailbox{User: u, PIN: "1234"}); err != nil {
			t.Fatal(err)
		}
	}
	checkMessages(t, s, "5002")
	// A time with milliseconds, in a zone other than UTC.
	rome := time.FixedZone("CET", 3600)
	t0 := time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, rome)
	add := func(m mediabox.Message) mediabox.Message {
		t.Helper()
		got, err := s.AddMessage(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		want := m
		want.ID = got.ID
		if !sameMessage(got, want) {
			t.Errorf("AddMessage returned %+v, want %+v with its ID", got, m)
		}
		return got
	}
	// Left in this order; a is later than b, c as late as a.
	a := add(mediabox.Message{Mailbox: "5002", Caller: "0577232111", Time: t0.Add(2 * time.Second), Duration: 12345 * time.Millisecond, File: "msg-a.wav"})
	b := add(mediabox.Message{Mailbox: "5002", Caller: "anonymous", Time: t0, Duration: 800 * time.Millisecond, File: "msg-b.wav"})
	o := add(mediabox.Message{Mailbox: "5003", Caller: "5002", Time: t0.Add(time.Second), Duration: time.Minute, File: "msg-o.wav", Heard: true})
	c := add(mediabox.Message{Mailbox: "5002", Caller: "5004", Time: t0.Add(2 * time.Second), Duration: 3 * time.Second, File: "msg-c.wav"})
	if !(a.ID < b.ID && b.ID < o.ID && o.ID < c.ID) {
		t.Fatalf("IDs %d, %d, %d, %d: want them increasing in the order the messages were left", a.ID, b.ID, o.ID, c.ID)
	}
	// Oldest first; of two at the same time, the first left.
	checkMessages(t, s, "5002", b, a, c)
	checkMessages(t, s, "5003", o)
	checkMessages(t, s, "5004")

	if err := s.MarkHeard(ctx, "5002", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHeard(ctx, "5002", a.ID); err != nil {
		t.Errorf("marking a heard message heard again: %v", err)
	}
	a.Heard = true
	checkMessages(t, s, "5002", b, a, c)
	if err := s.MarkHeard(ctx, "5003", b.ID); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("marking 5002's message %d through 5003: %v, want ErrNotFound", b.ID, err)
	}
	if err := s.MarkHeard(ctx, "5002", c.ID+1000); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("marking an unknown message: %v, want ErrNotFound", err)
	}
	if err := s.DeleteMessage(ctx, "5003", b.ID); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting 5002's message %d through 5003: %v, want ErrNotFound", b.ID, err)
	}
	if err := s.DeleteMessage(ctx, "5002", o.ID); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting 5003's message %d through 5002: %v, want ErrNotFound", o.ID, err)
	}
	checkMessages(t, s, "5002", b, a, c)
	checkMessages(t, s, "5003", o)

	// The newest deleted: its ID is not given again.
	if err := s.DeleteMessage(ctx, "5002", c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMessage(ctx, "5002", c.ID); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if err := s.MarkHeard(ctx, "5002", c.ID); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("marking a deleted message: %v, want ErrNotFound", err)
	}
	d := add(mediabox.Message{Mailbox: "5002", Caller: "5001", Time: t0.Add(time.Hour), Duration: time.Second, File: "msg-d.wav"})
	if d.ID <= c.ID {
		t.Errorf("a message left after deleting message %d got ID %d: an ID was given twice", c.ID, d.ID)
	}
	checkMessages(t, s, "5002", b, a, d)
	if err := s.DeleteMessage(ctx, "5002", b.ID); err != nil {
		t.Fatal(err)
	}
	checkMessages(t, s, "5002", a, d)
	checkMessages(t, s, "5003", o)
}

// sameQueue is DeepEqual with no members and an empty list of them
// alike.
func sameQueue(got, want mediabox.Queue) bool {
	if len(got.Members) == 0 && len(want.Members) == 0 {
		got.Members, want.Members = nil, nil
	}
	return reflect.DeepEqual(got, want)
}

func fullQueue(t *testing.T) mediabox.Queue {
	return mediabox.Queue{
		ID: "5000", Strategy: mediabox.RoundRobin,
		// Not in number order: the order is the queue's.
		Members:          []mediabox.Member{{Number: "5003", LoggedIn: true}, {Number: "5002"}, {Number: "0577232111", LoggedIn: true}, {Number: "5001"}},
		Music:            "moh",
		AnnouncePosition: true, RingTimeout: 20 * time.Second, MaxWait: 3 * time.Minute, OnTimeout: act(t, "voicemail:5002"),
	}
}

func checkQueue(t *testing.T, s mediabox.Store, want mediabox.Queue) {
	t.Helper()
	got, err := s.Queue(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("queue %s: %v", want.ID, err)
	}
	if !sameQueue(got, want) {
		t.Errorf("queue %s: got %+v\nwant %+v", want.ID, got, want)
	}
}

func queueIDs(t *testing.T, s mediabox.Store) []string {
	t.Helper()
	all, err := s.Queues(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, q := range all {
		ids = append(ids, q.ID)
	}
	return ids
}

func testQueues(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	if ids := queueIDs(t, s); len(ids) != 0 {
		t.Fatalf("an empty store lists %v", ids)
	}
	full := fullQueue(t)
	// The least a queue can be: no members yet, the defaults left zero.
	least := mediabox.Queue{ID: "help"}
	one := mediabox.Queue{ID: "Help", Strategy: mediabox.RingAll, Members: []mediabox.Member{{Number: "5004"}}}
	for _, q := range []mediabox.Queue{least, full, one} {
		if err := s.PutQueue(ctx, q); err != nil {
			t.Fatalf("put %s: %v", q.ID, err)
		}
	}
	checkQueue(t, s, full)
	checkQueue(t, s, least)
	checkQueue(t, s, one)
	all, err := s.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []mediabox.Queue{full, one, least} // byte order: "5000", "Help", "help"
	if len(all) != len(want) {
		t.Fatalf("queues: got %+v\nwant %+v", all, want)
	}
	for i := range want {
		if !sameQueue(all[i], want[i]) {
			t.Errorf("queue %d listed: got %+v\nwant %+v", i, all[i], want[i])
		}
	}
	if _, err := s.Queue(ctx, "HELP"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("an unknown queue: %v, want ErrNotFound", err)
	}

	// The members handed in or got back are not the store's.
	in := fullQueue(t)
	in.ID = "copy"
	if err := s.PutQueue(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Members[0].Number = "5999"
	got, err := s.Queue(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	got.Members[1].LoggedIn = true
	wantCopy := fullQueue(t)
	wantCopy.ID = "copy"
	checkQueue(t, s, wantCopy)
	all, _ = s.Queues(ctx)
	for _, q := range all {
		for i := range q.Members {
			q.Members[i].Number = "x"
		}
	}
	checkQueue(t, s, wantCopy)
}

func testQueueReplace(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	if err := s.PutQueue(ctx, fullQueue(t)); err != nil {
		t.Fatal(err)
	}
	other := mediabox.Queue{ID: "other", Members: []mediabox.Member{{Number: "5002", LoggedIn: true}}}
	if err := s.PutQueue(ctx, other); err != nil {
		t.Fatal(err)
	}
	// Replaced whole: members dropped, reordered, one added; zero values
	// kept as zero.
	less := mediabox.Queue{ID: "5000", Members: []mediabox.Member{{Number: "5001", LoggedIn: true}, {Number: "5004"}, {Number: "5003"}}}
	if err := s.PutQueue(ctx, less); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, s, less)
	checkQueue(t, s, other)
	if err := s.DeleteQueue(ctx, "5000"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Queue(ctx, "5000"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("a deleted queue: %v, want ErrNotFound", err)
	}
	if err := s.DeleteQueue(ctx, "5000"); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if err := s.SetAgent(ctx, "5000", "5001", false); !errors.Is(err, mediabox.ErrNotFound) {
		t.Errorf("logging out of a deleted queue: %v, want ErrNotFound", err)
	}
	if got, want := queueIDs(t, s), []string{"other"}; !slices.Equal(got, want) {
		t.Errorf("after deleting 5000: %v, want %v", got, want)
	}
	checkQueue(t, s, other)
	// A queue put again under a deleted one's ID has only its own members.
	again := mediabox.Queue{ID: "5000", Members: []mediabox.Member{{Number: "5009"}}}
	if err := s.PutQueue(ctx, again); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, s, again)
}

func testQueueRefused(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	good := fullQueue(t)
	if err := s.PutQueue(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := func(f func(q *mediabox.Queue)) mediabox.Queue {
		q := fullQueue(t)
		f(&q)
		return q
	}
	for _, tt := range []struct {
		name string
		q    mediabox.Queue
	}{
		{"no ID", bad(func(q *mediabox.Queue) { q.ID = "" })},
		{"an ID with a slash", bad(func(q *mediabox.Queue) { q.ID = "50/00" })},
		{"an unknown strategy", bad(func(q *mediabox.Queue) { q.Strategy = "leastrecent" })},
		{"a member twice", bad(func(q *mediabox.Queue) { q.Members = append(q.Members, mediabox.Member{Number: "5003"}) })},
		{"a member with a space", bad(func(q *mediabox.Queue) { q.Members[1].Number = "50 02" })},
		{"an empty member", bad(func(q *mediabox.Queue) { q.Members[1].Number = "" })},
		{"music with a space", bad(func(q *mediabox.Queue) { q.Music = "my music" })},
		{"a ring timeout in fractions", bad(func(q *mediabox.Queue) { q.RingTimeout = 1500 * time.Millisecond })},
		{"a ring timeout over 5m", bad(func(q *mediabox.Queue) { q.RingTimeout = 6 * time.Minute })},
		{"a negative wait", bad(func(q *mediabox.Queue) { q.MaxWait = -time.Second })},
		{"a wait over an hour", bad(func(q *mediabox.Queue) { q.MaxWait = 2 * time.Hour })},
		{"a bad timeout action", bad(func(q *mediabox.Queue) { q.OnTimeout = mediabox.Action{Kind: "dial"} })},
	} {
		if err := s.PutQueue(ctx, tt.q); err == nil {
			t.Errorf("%s: %+v stored, want refused", tt.name, tt.q)
		}
	}
	checkQueue(t, s, good)
	if got, want := queueIDs(t, s), []string{"5000"}; !slices.Equal(got, want) {
		t.Errorf("refused queues left %v, want %v", got, want)
	}
}

func testAgents(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	q := fullQueue(t)
	// 5002 is an agent of both queues: logging in to one leaves the
	// other alone.
	other := mediabox.Queue{ID: "other", Members: []mediabox.Member{{Number: "5002"}, {Number: "5009", LoggedIn: true}}}
	for _, x := range []mediabox.Queue{q, other} {
		if err := s.PutQueue(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetAgent(ctx, "5000", "5002", true); err != nil {
		t.Fatal(err)
	}
	q.Members[1].LoggedIn = true
	checkQueue(t, s, q)
	checkQueue(t, s, other)
	if err := s.SetAgent(ctx, "5000", "5003", false); err != nil {
		t.Fatal(err)
	}
	q.Members[0].LoggedIn = false
	checkQueue(t, s, q)
	// The same state again is no error.
	if err := s.SetAgent(ctx, "5000", "5003", false); err != nil {
		t.Errorf("logging out a logged-out agent: %v", err)
	}
	if err := s.SetAgent(ctx, "5000", "5002", true); err != nil {
		t.Errorf("logging in a logged-in agent: %v", err)
	}
	checkQueue(t, s, q)
	for _, tt := range []struct{ queue, number, why string }{
		{"nosuch", "5002", "an unknown queue"},
		{"5000", "5999", "an unknown member"},
		{"5000", "5009", "a member of another queue"},
		{"Other", "5009", "a queue named in other capitals"},
	} {
		if err := s.SetAgent(ctx, tt.queue, tt.number, true); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("%s (%s in %s): %v, want ErrNotFound", tt.why, tt.number, tt.queue, err)
		}
	}
	checkQueue(t, s, q)
	checkQueue(t, s, other)
	if ids := queueIDs(t, s); !slices.Equal(ids, []string{"5000", "other"}) {
		t.Errorf("SetAgent created queues: %v", ids)
	}
}

// testExactNames: a name with a space before or after, or in other
// capitals, or with letters outside ASCII, finds nothing (and is no
// error): SQL collations that ignore trailing spaces or case must not
// leak through.
func testExactNames(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	if err := s.PutMenu(ctx, fullMenu(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutQueue(ctx, fullQueue(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMailbox(ctx, mediabox.Mailbox{User: "5002", PIN: "1234"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.AddMessage(ctx, mediabox.Message{Mailbox: "5002", Caller: "5003", Time: time.UnixMilli(1741944413589), Duration: time.Second, File: "a.wav"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"5000 ", " 5000", "5000\t", "città", "", "5000\x00"} {
		if _, err := s.Menu(ctx, name); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("menu %q: %v, want ErrNotFound", name, err)
		}
		if err := s.DeleteMenu(ctx, name); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("deleting menu %q: %v, want ErrNotFound", name, err)
		}
		if _, err := s.Queue(ctx, name); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("queue %q: %v, want ErrNotFound", name, err)
		}
		if err := s.DeleteQueue(ctx, name); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("deleting queue %q: %v, want ErrNotFound", name, err)
		}
		if err := s.SetAgent(ctx, name, "5002", true); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("agent 5002 of queue %q: %v, want ErrNotFound", name, err)
		}
	}
	for _, name := range []string{"5002 ", " 5002", "5002\t", "5002é", ""} {
		if _, err := s.Mailbox(ctx, name); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("mailbox %q: %v, want ErrNotFound", name, err)
		}
		if msgs, err := s.Messages(ctx, name); err != nil || len(msgs) != 0 {
			t.Errorf("messages of %q: %+v %v, want none", name, msgs, err)
		}
		if err := s.MarkHeard(ctx, name, m.ID); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("marking message %d of %q heard: %v, want ErrNotFound", m.ID, name, err)
		}
		if err := s.DeleteMessage(ctx, name, m.ID); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("deleting message %d of %q: %v, want ErrNotFound", m.ID, name, err)
		}
		if err := s.SetAgent(ctx, "5000", name, true); !errors.Is(err, mediabox.ErrNotFound) {
			t.Errorf("agent %q of queue 5000: %v, want ErrNotFound", name, err)
		}
	}
	checkMenu(t, s, fullMenu(t))
	checkQueue(t, s, fullQueue(t))
	checkMessages(t, s, "5002", m)
}

// testConcurrent: menus, queues, messages and agents written and read
// from several goroutines at once (run it with -race); nothing is lost,
// no message ID is given twice, and agents logging in one by one to one
// queue do not undo each other.
func testConcurrent(t *testing.T, s mediabox.Store) {
	ctx := t.Context()
	const workers, each = 8, 5
	shared := mediabox.Queue{ID: "shared"}
	for i := range workers {
		shared.Members = append(shared.Members, mediabox.Member{Number: fmt.Sprintf("50%02d", i)})
	}
	if err := s.PutQueue(ctx, shared); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMailbox(ctx, mediabox.Mailbox{User: "5002"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ids := make([][]int64, workers)
	for w := range workers {
		wg.Go(func() {
			id := fmt.Sprintf("m%d", w)
			for n := range each {
				m := mediabox.Menu{ID: id, Prompt: "p", Keys: map[string]mediabox.Action{"1": {Kind: mediabox.Transfer, Arg: fmt.Sprint(5000 + n)}, "2": {Kind: mediabox.Repeat}}}
				if err := s.PutMenu(ctx, m); err != nil {
					t.Errorf("put menu %s: %v", id, err)
					return
				}
				got, err := s.Menu(ctx, id)
				if err != nil || len(got.Keys) != 2 {
					t.Errorf("menu %s read back as %+v %v", id, got, err)
				}
				if _, err := s.Menus(ctx); err != nil {
					t.Errorf("menus: %v", err)
				}
				q := mediabox.Queue{ID: fmt.Sprintf("q%d", w), Members: []mediabox.Member{{Number: "5002"}, {Number: fmt.Sprint(5100 + n)}}}
				if err := s.PutQueue(ctx, q); err != nil {
					t.Errorf("put queue %s: %v", q.ID, err)
				}
				if err := s.SetAgent(ctx, q.ID, "5002", n%2 == 0); err != nil {
					t.Errorf("set agent in %s: %v", q.ID, err)
				}
				if _, err := s.Queues(ctx); err != nil {
					t.Errorf("queues: %v", err)
				}
				msg, err := s.AddMessage(ctx, mediabox.Message{Mailbox: "5002", Caller: id, Time: time.UnixMilli(int64(1741944413000 + w*each + n)), Duration: time.Second, File: fmt.Sprintf("%s-%d.wav", id, n)})
				if err != nil {
					t.Errorf("add message: %v", err)
					continue
				}
				ids[w] = append(ids[w], msg.ID)
				if _, err := s.Messages(ctx, "5002"); err != nil {
					t.Errorf("messages: %v", err)
				}
			}
			if err := s.MarkHeard(ctx, "5002", ids[w][0]); err != nil {
				t.Errorf("mark heard %d: %v", ids[w][0], err)
			}
			if err := s.SetAgent(ctx, "shared", fmt.Sprintf("50%02d", w), true); err != nil {
				t.Errorf("log in to shared: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := menuIDs(t, s); len(got) != workers {
		t.Errorf("menus: %v, want %d", got, workers)
	}
	if got := queueIDs(t, s); len(got) != workers+1 {
		t.Errorf("queues: %v, want %d", got, workers+1)
	}
	msgs, err := s.Messages(ctx, "5002")
	if err != nil {
		t.Fatal(err)
	}
	seen, heard := map[int64]bool{}, 0
	for _, m := range msgs {
		if seen[m.ID] {
			t.Errorf("message ID %d given twice", m.ID)
		}
		seen[m.ID] = true
		if m.Heard {
			heard++
		}
	}
	if len(msgs) != workers*each || heard != workers {
		t.Errorf("%d messages, %d heard; want %d, %d", len(msgs), heard, workers*each, workers)
	}
	for w, own := range ids {
		for i := 1; i < len(own); i++ {
			if own[i] <= own[i-1] {
				t.Errorf("worker %d's messages got IDs %v: not increasing", w, own)
			}
		}
	}
	got, err := s.Queue(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range got.Members {
		if m.Number != shared.Members[i].Number || !m.LoggedIn {
			t.Errorf("shared queue member %d: %+v, want %s logged in", i, m, shared.Members[i].Number)
		}
	}
}
