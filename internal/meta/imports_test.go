// Package meta holds tests about the codebase itself.
package meta

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/palio-voip/palio"

// allowed lists, for each package of the module, the module's packages it
// may import: the layering of the README's package table, where
// dependencies point down (a package imports only those above it). A
// package missing here fails the test until it is given its row.
var allowed = map[string][]string{
	"internal/meta":     {},
	"internal/promreg":  {},
	"internal/timerec":  {},
	"internal/digits":   {},
	"internal/ttlcache": {},
	"internal/httpauth": {},
	"internal/daemon":   {},
	"internal/procs":    {},
	"internal/race":     {},

	"snapshot":    {},
	"alert":       {"internal/*"},
	"sip":         {"internal/*"},
	"sip/siptest": {"sip"},

	"permission":                 {"sip", "dialplan", "internal/*", "snapshot"},
	"permission/permissiontest":  {"permission"},
	"enum":                       {"sip", "internal/*", "snapshot"},
	"alias":                      {"sip", "internal/*", "snapshot"},
	"alias/aliastest":            {"alias"},
	"dialplan":                   {"sip", "internal/*", "snapshot"},
	"dialplan/dialplantest":      {"dialplan", "internal/*"},
	"registrar":                  {"sip", "internal/*", "snapshot"},
	"registrar/registrartest":    {"registrar", "sip"},
	"routing":                    {"sip", "dialplan", "internal/*", "snapshot"},
	"routing/routingtest":        {"routing", "sip", "sip/siptest"},
	"mediabridge":                {"sip", "internal/*"},
	"presence":                   {"sip", "registrar", "snapshot", "internal/*"},
	"presence/presencetest":      {"presence"},
	"cluster":                    {"sip", "guard", "accounting", "internal/*"},
	"cluster/trunkcount":         {"routing", "internal/*"},
	"mediabridge/ng":             {"mediabridge", "sip"},
	"mediabox":                   {"sip", "presence", "snapshot", "mediabox/internal/sipclose", "internal/*"},
	"mediabox/mediaboxtest":      {"mediabox", "mediabox/internal/sipclose"},
	"mediabox/internal/sipclose": {},
	"accounting":                 {"sip", "snapshot", "internal/*"},
	"accounting/accountingtest":  {"accounting"},
	// provisioning may import registrar (the accounts' passwords, the
	// bindings a resync NOTIFY goes to) and sip (the NOTIFY).
	"provisioning":                  {"sip", "registrar", "internal/*"},
	"provisioning/provisioningtest": {"provisioning"},
	"guard":                         {"sip", "snapshot", "internal/*"},
	"guard/guardtest":               {"guard"},

	"destination":           {"sip", "dialplan", "enum", "permission", "registrar", "routing", "snapshot", "internal/*"},
	"features":              {"sip", "destination", "dialplan", "permission", "registrar", "snapshot", "internal/*"},
	"features/featurestest": {"features", "sip"},
	"admin":                 {"sip", "accounting", "alert", "alias", "dialplan", "features", "guard", "permission", "provisioning", "registrar", "routing", "internal/*"},
	"admin/admintest":       {"admin", "sip"},
	"store/sqlstore":        {"sip", "admin", "accounting", "alias", "dialplan", "features", "guard", "mediabox", "presence", "provisioning", "registrar", "permission", "routing", "snapshot", "internal/*"},
	"store/sqlite":          {"store/sqlstore"},
	"store/mysql":           {"store/sqlstore"},
	"store/storetest":       {"store/sqlstore", "store/sqlite", "store/mysql"},

	"examples/unisi":        {"*"},
	"bench/flood":           {},
	"bench/hepsink":         {},
	"bench/mediaload":       {},
	"cmd/palio-mediabridge": {"mediabridge", "mediabridge/ng", "internal/*"},
	"cmd/palio-mediabox":    {"mediabox", "mediabox/mediaboxtest", "store/sqlstore", "store/sqlite", "store/mysql", "internal/*"},
}

// drivers may be imported only by the store packages that wrap them.
var drivers = map[string][]string{
	"modernc.org/sqlite":             {"store/sqlite"},
	"github.com/go-sql-driver/mysql": {"store/mysql"},
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		rules, ok := allowed[name]
		if !ok {
			t.Errorf("%s has no row in the import table (allowed, in this file): add one", name)
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				dep := strings.TrimPrefix(imp, module+"/")
				if !permitted(rules, dep) {
					t.Errorf("%s imports %s, which the import table (allowed, in this file) does not allow", name, dep)
				}
				if strings.HasPrefix(dep, "examples/") {
					t.Errorf("%s imports the example %s", name, dep)
				}
			}
			for drv, who := range drivers {
				if (imp == drv || strings.HasPrefix(imp, drv+"/")) && !permitted(who, name) && !strings.HasPrefix(name, "examples/") {
					t.Errorf("%s imports the database driver %s; only %v may", name, drv, who)
				}
			}
		}
	}
}

func permitted(rules []string, dep string) bool {
	for _, r := range rules {
		if r == "*" || r == dep || strings.HasSuffix(r, "/*") && strings.HasPrefix(dep, strings.TrimSuffix(r, "*")) {
			return true
		}
	}
	return false
}
