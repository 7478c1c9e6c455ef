package features

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	for _, tt := range []struct {
		key, value string
		check      func(Settings) bool
		err        string
	}{
		{"forward-busy", "5003", func(s Settings) bool { return s.ForwardBusy == "5003" }, ""},
		{"forward-always", "0577232111", func(s Settings) bool { return s.ForwardAlways == "0577232111" }, ""},
		{"forward-noanswer", "VM_5002", func(s Settings) bool { return s.ForwardNoAnswer == "VM_5002" }, ""},
		{"forward-unreachable", "+390577232111", func(s Settings) bool { return s.ForwardUnreachable == "+390577232111" }, ""},
		{"noanswer-after", "20s", func(s Settings) bool { return s.NoAnswerAfter == 20*time.Second }, ""},
		{"dnd", "on", func(s Settings) bool { return s.DND && s.DNDAction == "" }, ""},
		{"dnd", "voicemail", func(s Settings) bool { return s.DND && s.DNDAction == DNDVoicemail }, ""},
		{"anonymous-block", "on", func(s Settings) bool { return s.AnonymousBlock }, ""},
		{"secretary", "5009", func(s Settings) bool { return s.Secretary == "5009" }, ""},
		{"secretary-allow", "5010, 5011", func(s Settings) bool { return len(s.SecretaryAllow) == 2 && s.SecretaryAllow[1] == "5011" }, ""},
		{"ring-boss-after", "15s", func(s Settings) bool { return s.RingBossAfter == 15*time.Second }, ""},
		{"boss-when-secretary-fails", "on", func(s Settings) bool { return s.BossWhenSecretaryFails }, ""},
		{"forward-busy", "off", func(s Settings) bool { return s.ForwardBusy == "" }, ""},
		{"forward-busy", "5002", nil, "the account itself"},
		{"forward-busy", "mario", nil, "is not a number"},
		{"forward-busy", "VM_", nil, "is not a number"},
		{"noanswer-after", "0s", nil, "want 1s"},
		{"noanswer-after", "10m", nil, "want 1s to 5m0s"},
		{"noanswer-after", "soon", nil, "want a duration"},
		{"dnd", "maybe", nil, "want on, off"},
		{"anonymous-block", "sometimes", nil, "want on or off"},
		{"forward-sideways", "5003", nil, "unknown setting"},
	} {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			s := Settings{User: "5002", Domain: "voip.unisi.it", ForwardBusy: "5004"}
			before := s
			err := s.Set(tt.key, tt.value)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				if s.ForwardBusy != before.ForwardBusy || s.NoAnswerAfter != 0 {
					t.Errorf("a refused Set changed the settings: %+v", s)
				}
				return
			}
			if err != nil || !tt.check(s) {
				t.Fatalf("err %v, settings %+v", err, s)
			}
			if got := s.Get(tt.key); tt.value != "off" && got == "off" {
				t.Errorf("Get(%s) = off after setting %q", tt.key, tt.value)
			}
		})
	}
}

// FuzzSet: any words give settings that validate, or an error and the
// settings unchanged; never a panic.
func FuzzSet(f *testing.F) {
	for _, k := range Keys {
		f.Add(k, "5003")
		f.Add(k, "20s")
		f.Add(k, "on")
	}
	f.Add("secretary-allow", "5010,,5011, ")
	f.Fuzz(func(t *testing.T, key, value string) {
		s := Settings{User: "5002", Domain: "voip.unisi.it", ForwardBusy: "5004"}
		before := s
		if err := s.Set(key, value); err != nil {
			if s.ForwardBusy != before.ForwardBusy || s.DND != before.DND || len(s.SecretaryAllow) != 0 {
				t.Fatalf("a refused Set changed the settings: %+v", s)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Set(%q, %q) gave settings that do not validate: %v", key, value, err)
		}
	})
}

func TestChange(t *testing.T) {
	ctx := context.Background()
	accounts := map[string]bool{"5003": true, "5009": true}
	exists := func(_ context.Context, u string) (bool, error) { return accounts[u], nil }
	cur := Settings{User: "5002", Domain: "voip.unisi.it", ForwardBusy: "5004"}
	for _, tt := range []struct {
		name     string
		pairs    []string
		changed  string
		warnings int
		err      string
	}{
		{"one change", []string{"forward-busy", "5003"}, "forward-busy=5003", 0, ""},
		{"two changes", []string{"dnd", "on", "forward-noanswer", "VM_5002"}, "forward-noanswer=VM_5002 dnd=unavailable", 0, ""},
		{"nothing changes", []string{"forward-busy", "5004"}, "", 0, ""},
		{"a timer alone is lost", []string{"forward-busy", "off", "noanswer-after", "20s"}, "", 0, "kept only with a service on"},
		{"everything off", []string{"forward-busy", "off"}, "forward-busy=off", 0, ""},
		{"a secretary that is no account", []string{"secretary", "5077"}, "", 0, "no account 5077@voip.unisi.it"},
		{"a secretary", []string{"secretary", "5009", "secretary-allow", "5003,5088"}, "secretary=5009 secretary-allow=5003,5088", 1, ""},
		{"a timer without its forward", []string{"noanswer-after", "20s"}, "noanswer-after=20s", 1, ""},
		{"odd pairs", []string{"dnd"}, "", 0, "has no value"},
		{"no pairs", nil, "", 0, "nothing to change"},
		{"a refused value", []string{"forward-busy", "5002"}, "", 0, "the account itself"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next, changed, warnings, err := Change(ctx, cur, tt.pairs, exists)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				if next.ForwardBusy != cur.ForwardBusy {
					t.Errorf("a refused change returned other settings: %+v", next)
				}
				return
			}
			if err != nil || strings.Join(changed, " ") != tt.changed || len(warnings) != tt.warnings {
				t.Fatalf("err %v, changed %q (want %q), warnings %q (want %d)", err, changed, tt.changed, warnings, tt.warnings)
			}
			if next.Validate() != nil {
				t.Errorf("settings do not validate: %+v", next)
			}
		})
	}
}
