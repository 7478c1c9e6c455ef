package alias_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/alias/aliastest"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// unisi is the alias data of the seed: a fax number and an IVR number
// that the media box serves.
func unisi() []alias.Alias {
	return []alias.Alias{
		{AliasUsername: "5500", AliasDomain: "voip.unisi.it", Username: "FAX_5500", Domain: "voip.unisi.it"},
		{AliasUsername: "5000", AliasDomain: "voip.unisi.it", Username: "IVR_5000", Domain: "voip.unisi.it"},
		{AliasUsername: "segreteria", AliasDomain: "voip.unisi.it", Username: "5002", Domain: "voip.unisi.it"},
		{AliasUsername: "michele.pinassi", AliasDomain: "voip.unisi.it", Username: "5002", Domain: "voip.unisi.it"},
		{AliasUsername: "5500", AliasDomain: "arezzo.unisi.it", Username: "FAX_AR_5500", Domain: "arezzo.unisi.it"},
	}
}

func TestMemStore(t *testing.T) {
	aliastest.TestStore(t, func(*testing.T) alias.Store { return alias.NewMemStore() })
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name         string
		cfg          alias.Config
		user, domain string
		want         string
	}{
		{"fax", alias.Config{}, "5500", "voip.unisi.it", "FAX_5500@voip.unisi.it"},
		{"domain is case-insensitive", alias.Config{}, "5500", "VoIP.UniSI.it", "FAX_5500@voip.unisi.it"},
		{"other domain, other alias", alias.Config{}, "5500", "arezzo.unisi.it", "FAX_AR_5500@arezzo.unisi.it"},
		{"wrong domain", alias.Config{}, "5500", "10.0.0.1", ""},
		{"not an alias", alias.Config{}, "5002", "voip.unisi.it", ""},
		{"username is case-sensitive", alias.Config{}, "Segreteria", "voip.unisi.it", ""},
		{"domain prefix stripped", alias.Config{DomainPrefix: "sip."}, "5000", "sip.voip.unisi.it", "IVR_5000@voip.unisi.it"},
		{"ignore domain: any host", alias.Config{IgnoreDomain: true}, "5000", "127.0.0.1", "IVR_5000@voip.unisi.it"},
		{"ignore domain: lowest id wins", alias.Config{IgnoreDomain: true}, "5500", "127.0.0.1", "FAX_5500@voip.unisi.it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := alias.New(tt.cfg, alias.NewMemStore(unisi()...))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if r, ok := a.Lookup(tt.user, tt.domain); ok {
				got = r.Username + "@" + r.Domain
			}
			if got != tt.want {
				t.Errorf("Lookup(%q, %q): got %q, want %q", tt.user, tt.domain, got, tt.want)
			}
		})
	}
}

func TestReverse(t *testing.T) {
	a, _ := alias.New(alias.Config{}, alias.NewMemStore(unisi()...))
	got := a.Reverse("5002", "voip.unisi.it")
	if len(got) != 2 || got[0].AliasUsername != "segreteria" || got[1].AliasUsername != "michele.pinassi" {
		t.Errorf("got %+v, want segreteria then michele.pinassi", got)
	}
	if got := a.Reverse("9999", "voip.unisi.it"); len(got) != 0 {
		t.Errorf("unknown account: got %+v", got)
	}
	b, _ := alias.New(alias.Config{IgnoreDomain: true}, alias.NewMemStore(unisi()...))
	if got := b.Reverse("5002", "127.0.0.1"); len(got) != 2 {
		t.Errorf("ignore domain: got %+v, want 2", got)
	}
}

func TestStage(t *testing.T) {
	var seen *sip.Request
	var res alias.Result
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, r *sip.Request) error {
		seen = r
		res, _ = alias.ResultFrom(ctx)
		return w.WriteResponse(sip.NewResponse(r, 200, ""))
	})
	tests := []struct {
		name      string
		cfg       alias.Config
		ruri      string
		wantRURI  string
		wantFound bool
	}{
		{"rewrite fax", alias.Config{IgnoreDomain: true, Rewrite: true}, "sip:5500@127.0.0.1:5060", "sip:FAX_5500@voip.unisi.it", true},
		{"find only", alias.Config{IgnoreDomain: true}, "sip:5500@127.0.0.1:5060", "sip:5500@127.0.0.1:5060", true},
		{"not an alias", alias.Config{IgnoreDomain: true, Rewrite: true}, "sip:5002@127.0.0.1:5060", "sip:5002@127.0.0.1:5060", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := alias.New(tt.cfg, alias.NewMemStore(unisi()...))
			rec, err := siptest.Serve(context.Background(), a.Wrap(next), siptest.NewRequest(sip.INVITE, tt.ruri))
			if err != nil || rec.Status() != 200 {
				t.Fatalf("got %v %d", err, rec.Status())
			}
			if got := seen.Recipient.String(); got != tt.wantRURI {
				t.Errorf("R-URI: got %s, want %s", got, tt.wantRURI)
			}
			if res.Found != tt.wantFound || res.Alias != "5500" && tt.wantFound {
				t.Errorf("result: got %+v", res)
			}
		})
	}
}

// failingStore fails its loads after the first.
type failingStore struct {
	*alias.MemStore
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) Aliases(ctx context.Context) ([]alias.Alias, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("database is gone")
	}
	return f.MemStore.Aliases(ctx)
}

func TestReloadKeepsTableOnError(t *testing.T) {
	st := &failingStore{MemStore: alias.NewMemStore(unisi()...)}
	a, err := alias.New(alias.Config{}, st)
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	if _, err := a.Reload(context.Background()); err == nil {
		t.Fatal("a failing store reloaded without error")
	}
	if _, ok := a.Lookup("5500", "voip.unisi.it"); !ok || a.Len() != 5 {
		t.Errorf("the running table was lost: len %d", a.Len())
	}
	if _, err := alias.New(alias.Config{}, st); err == nil {
		t.Error("New with a failing store returned no error")
	}
}

// TestReloadUnderLookups swaps tables while lookups run: every lookup
// sees one whole table (run with -race).
func TestReloadUnderLookups(t *testing.T) {
	st := alias.NewMemStore(unisi()...)
	a, _ := alias.New(alias.Config{}, st)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, ok := a.Lookup("5500", "voip.unisi.it"); !ok {
					t.Error("a lookup saw a table without the fax alias")
					return
				}
			}
		}()
	}
	for i := range 50 {
		st.Add(ctx, alias.Alias{AliasUsername: fmt.Sprint(6000 + i), AliasDomain: "voip.unisi.it", Username: "x", Domain: "voip.unisi.it"})
		if _, err := a.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if a.Len() != 55 {
		t.Errorf("len: got %d, want 55", a.Len())
	}
}

func ExampleAliases_Lookup() {
	store := alias.NewMemStore(
		alias.Alias{AliasUsername: "5500", AliasDomain: "voip.unisi.it", Username: "FAX_5500", Domain: "voip.unisi.it"},
	)
	a, _ := alias.New(alias.Config{}, store)
	if acct, ok := a.Lookup("5500", "voip.unisi.it"); ok {
		fmt.Println(acct.Username)
	}
	// Output: FAX_5500
}

func BenchmarkStage(b *testing.B) {
	a, _ := alias.New(alias.Config{IgnoreDomain: true, Rewrite: true}, alias.NewMemStore(unisi()...))
	h := a.Wrap(sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) error { return nil }))
	req := siptest.NewRequest(sip.INVITE, "sip:5002@127.0.0.1")
	ctx := context.Background()
	w := siptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeSIP(ctx, w, req)
	}
}

func TestAliasValidate(t *testing.T) {
	for _, tt := range []struct {
		a  alias.Alias
		ok bool
	}{
		{alias.Alias{AliasUsername: "5500", AliasDomain: "voip.unisi.it", Username: "FAX_5500", Domain: "voip.unisi.it"}, true},
		{alias.Alias{AliasUsername: "5500", Username: "FAX_5500"}, true}, // domains ignored
		{alias.Alias{AliasUsername: "", Username: "FAX_5500"}, false},
		{alias.Alias{AliasUsername: "5500", Username: ""}, false},
		{alias.Alias{AliasUsername: "55 00", Username: "FAX_5500"}, false},
		{alias.Alias{AliasUsername: "5500@x", Username: "FAX_5500"}, false},
		{alias.Alias{AliasUsername: "5500", AliasDomain: "a b", Username: "FAX_5500"}, false},
		{alias.Alias{AliasUsername: "5500", AliasDomain: "d", Username: "5500", Domain: "D"}, false}, // itself
	} {
		if err := tt.a.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tt.a, err, tt.ok)
		}
	}
}
