package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palio-voip/palio/sip"
)

// TestSIPStreamLimits: the [sip] stream limits reach sip.StreamLimits with
// their defaults, and 0 in the file turns a limit off.
func TestSIPStreamLimits(t *testing.T) {
	tests := []struct {
		name, body string
		want       sip.StreamLimits
	}{
		{"defaults", "", sip.StreamLimits{IdleTimeout: 120 * time.Second, MessageTimeout: 10 * time.Second, MaxConns: 2048, MaxConnsPerIP: 64}},
		{"set", "[sip]\nidle_timeout = \"300s\"\nmessage_timeout = \"4s\"\nmax_connections = 10000\nmax_connections_per_ip = 500\n",
			sip.StreamLimits{IdleTimeout: 300 * time.Second, MessageTimeout: 4 * time.Second, MaxConns: 10000, MaxConnsPerIP: 500}},
		{"off", "[sip]\nidle_timeout = \"0s\"\nmessage_timeout = \"0s\"\nmax_connections = 0\nmax_connections_per_ip = 0\n",
			sip.StreamLimits{IdleTimeout: -1, MessageTimeout: -1, MaxConns: -1, MaxConnsPerIP: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "unisi.toml")
			if err := os.WriteFile(p, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.SIP.streams(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// configKeys returns every key of Config, "section.key", as the file
// spells them.
func configKeys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration{}) {
				walk(prefix+name+".", ft)
				continue
			}
			out = append(out, prefix+name)
		}
	}
	walk("", reflect.TypeOf(Config{}))
	return out
}

// TestAnnotatedConfig: the example configuration unisi.toml documents
// every key (set, or commented out when it has no default), and the values
// it shows are the defaults: loading it changes nothing.
func TestAnnotatedConfig(t *testing.T) {
	b, err := os.ReadFile("unisi.toml")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		if m := regexp.MustCompile(`^\[([a-z_.]+)\]$`).FindStringSubmatch(line); m != nil {
			section = m[1] + "."
			continue
		}
		if m := regexp.MustCompile(`^([a-z_]+) = `).FindStringSubmatch(line); m != nil {
			documented[section+m[1]] = true
		}
	}
	for _, k := range configKeys() {
		if !documented[k] {
			t.Errorf("unisi.toml does not document %s", k)
		}
		delete(documented, k)
	}
	for k := range documented {
		t.Errorf("unisi.toml documents %s, which is no key", k)
	}
	cfg, err := loadConfig("unisi.toml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := configDiff(defaultConfig(), cfg); len(diff) > 0 {
		t.Errorf("unisi.toml sets these keys to other values than the defaults: %v", diff)
	}
}

// TestConfigCommands: config check says ok or names the problem; config
// print writes a file that loads back to the same configuration, secrets
// masked.
func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != want {
			t.Fatalf("unisi %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	if out, _ := cli(0, "config", "check", "unisi.toml"); out != "ok unisi.toml\n" {
		t.Errorf("check of the example: %q", out)
	}
	for _, tt := range []struct{ body, want string }{
		{"[sip]\nlisten = \"127.0.0.1\"\n", "sip.listen"},
		{"[sip]\nlistn = \"127.0.0.1:5060\"\n", "unknown keys: sip.listn"},
		{"[log]\nlevel = \"loud\"\n", "log.level"},
		{"[routing]\nfailover_codes = [42]\n", "status code 42"},
		{"[registrar]\nsecret = \"short\"\n", "registrar.secret"},
		{"[registrar]\nalgorithms = [\"SHA1\"]\n", "registrar.algorithms"},
		{"[sip.tls]\nlisten = \"127.0.0.1:5061\"\ncert = \"/nonexistent.pem\"\nkey = \"/nonexistent.key\"\n", "sip.tls.cert"},
		{"[sip\n", "config"},
		{"[cluster]\nnats = \"nats://127.0.0.1:4222\"\n", "cluster"},
		{"[cluster]\nnode = \"siena 1\"\n", "cluster.node"},
		{"[cluster]\nnode = \"a\"\nnats = \"http://127.0.0.1:4222\"\n", "scheme"},
		{"[cluster]\nnode = \"a\"\nnats = \"nats://127.0.0.1:4222\"\nname = \"uni.si\"\n", "Cluster"},
		{"[cluster]\nredis = \"redis://127.0.0.1:6379/0\"\n", "cluster (node, redis, name): trunkcount: node"},
		{"[cluster]\nnode = \"a\"\nredis = \"http://127.0.0.1:6379\"\n", "cluster (node, redis, name): trunkcount: URL"},
		{"[cluster]\nnode = \"a\"\npaths = \"sometimes\"\n", "cluster.paths"},
		{"[cluster]\nnode = \"a\"\nadvertise = \"10.0.0.1\"\n", "cluster.advertise"},
		{"[cluster]\nnode = \"a\"\nadvertise = \"sip:;lr\"\n", "cluster.advertise"},
	} {
		_, errOut := cli(1, "config", "check", write("bad.toml", tt.body))
		if !strings.Contains(errOut, tt.want) {
			t.Errorf("check of %q: %q does not name %q", tt.body, errOut, tt.want)
		}
	}
	if out, _ := cli(0, "config", "check", write("node.toml", "[cluster]\nnode = \"siena-1\"\n")); out != "ok "+filepath.Join(dir, "node.toml")+"\n" {
		t.Errorf("a node name without NATS: %q", out)
	}
	custom := write("custom.toml", "[sip]\ndomains = [\"pbx.example.org\"]\n[registrar]\nsecret = \"0123456789abcdef0123\"\n"+
		"[store]\nmysql = \"palio:pw@tcp(db:3306)/palio\"\n[routing]\nprobe_interval = \"0s\"\n"+
		"[cluster]\nnode = \"siena-1\"\nnats = \"nats://palio:natspw@127.0.0.1:4222\"\nredis = \"redis://:redispw@127.0.0.1:6379/0\"\n")
	out, _ := cli(0, "config", "print", "-config", custom, "-sip", "127.0.0.1:5070")
	if strings.Contains(out, "0123456789abcdef0123") || strings.Contains(out, "palio:pw@") || strings.Contains(out, "natspw") || strings.Contains(out, "redispw") {
		t.Errorf("config print shows a secret:\n%s", out)
	}
	back, err := loadConfig(write("printed.toml", strings.ReplaceAll(out, "(set)", "0123456789abcdef0123")))
	if err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, out)
	}
	want, _ := loadConfig(custom)
	want.SIP.Listen = "127.0.0.1:5070"
	want.Store.MySQL = "palio:0123456789abcdef0123@tcp(db:3306)/palio"
	want.Cluster.NATS = "nats://palio:xxxxx@127.0.0.1:4222"
	want.Cluster.Redis = "redis://:xxxxx@127.0.0.1:6379/0"
	if diff := configDiff(want, back); len(diff) > 0 {
		t.Errorf("config print, loaded back, differs in %v:\n%s", diff, out)
	}
}

// TestConfigDiff names the keys that differ, nested ones by their path.
func TestConfigDiff(t *testing.T) {
	a, b := defaultConfig(), defaultConfig()
	b.SIP.Listen = "0.0.0.0:5060"
	b.Log.Level = "debug"
	b.SIP.TLS = &TLSConfig{Listen: ":5061"}
	b.Routing.ProbeInterval = &Duration{time.Minute}
	b.Permission.Trusted = []int{1}
	got := strings.Join(configDiff(a, b), " ")
	if want := "sip.listen sip.tls log.level permission.trusted routing.probe_interval"; got != want {
		t.Errorf("configDiff = %q, want %q", got, want)
	}
	var lv slog.LevelVar
	running, applied, restart, err := reloadConfig(a, b, &lv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if running.Log.Level != "debug" || running.SIP.Listen != a.SIP.Listen {
		t.Errorf("running: log.level %q, sip.listen %q; want the new level, the old listen", running.Log.Level, running.SIP.Listen)
	}
	if strings.Join(applied, " ") != "log.level" || lv.Level() != slog.LevelDebug {
		t.Errorf("applied %v (level %v), want log.level applied", applied, lv.Level())
	}
	if len(restart) != 4 {
		t.Errorf("restart = %v, want the four other keys", restart)
	}
}

// TestClusterFlowsConfig: which address a node records in its phones'
// Paths ([cluster] advertise, else [sip] advertise, else [sip] listen)
// and when it records none.
func TestClusterFlowsConfig(t *testing.T) {
	for _, tt := range []struct {
		name              string
		cc                ClusterConfig
		listen, advertise string
		want              string // "" for no Path
		datagram          bool
	}{
		{name: "not clustered", cc: ClusterConfig{}, listen: "127.0.0.1:5060"},
		{name: "off", cc: ClusterConfig{Node: "a", Paths: "off"}, listen: "127.0.0.1:5060"},
		{name: "listen", cc: ClusterConfig{Node: "a"}, listen: "127.0.0.1:5060", want: "sip:127.0.0.1:5060;transport=tcp"},
		{name: "sip advertise host", cc: ClusterConfig{Node: "a", Paths: "all"}, listen: "0.0.0.0:5070", advertise: "10.0.0.1",
			want: "sip:10.0.0.1:5070;transport=tcp", datagram: true},
		{name: "sip advertise host:port", cc: ClusterConfig{Node: "a"}, listen: "0.0.0.0:5060", advertise: "10.0.0.1:5080",
			want: "sip:10.0.0.1:5080;transport=tcp"},
		{name: "cluster advertise", cc: ClusterConfig{Node: "a", Advertise: "10.1.1.1:5060"}, listen: "127.0.0.1:5060", advertise: "10.0.0.1",
			want: "sip:10.1.1.1:5060;transport=tcp"},
		{name: "cluster advertise URI", cc: ClusterConfig{Node: "a", Advertise: "sip:10.1.1.1:5060;transport=udp"}, listen: "127.0.0.1:5060",
			want: "sip:10.1.1.1:5060;transport=udp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fc, ok, err := tt.cc.flows(tt.listen, tt.advertise)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !ok && tt.want != "":
				t.Errorf("no Path recorded, want %s", tt.want)
			case ok && (fc.URI.String() != tt.want || fc.Datagram != tt.datagram):
				t.Errorf("got %s (datagram %v), want %s (datagram %v)", fc.URI.String(), fc.Datagram, tt.want, tt.datagram)
			case ok && tt.want == "":
				t.Errorf("got %s, want no Path", fc.URI.String())
			}
		})
	}
}
