package admin

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The directory the LDAP tests start: the university's people and the
// two groups the admin maps.
const ldapData = `dn: dc=unisi,dc=it
objectClass: dcObject
objectClass: organization
dc: unisi
o: Universita di Siena

dn: ou=people,dc=unisi,dc=it
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=unisi,dc=it
objectClass: organizationalUnit
ou: groups

dn: uid=rossi,ou=people,dc=unisi,dc=it
objectClass: inetOrgPerson
uid: rossi
cn: Mario Rossi
sn: Rossi
telephoneNumber: 5002
userPassword: rossi-pw

dn: uid=bianchi,ou=people,dc=unisi,dc=it
objectClass: inetOrgPerson
uid: bianchi
cn: Anna Bianchi
sn: Bianchi
telephoneNumber: 5003
userPassword: bianchi-pw

dn: uid=verdi,ou=people,dc=unisi,dc=it
objectClass: inetOrgPerson
uid: verdi
cn: Luca Verdi
sn: Verdi
userPassword: verdi-pw

dn: uid=neri,ou=people,dc=unisi,dc=it
objectClass: inetOrgPerson
uid: neri
cn: Sara Neri
sn: Neri
telephoneNumber: 5004
userPassword: neri-pw

dn: cn=voip-admins,ou=groups,dc=unisi,dc=it
objectClass: groupOfNames
cn: voip-admins
member: uid=verdi,ou=people,dc=unisi,dc=it

dn: cn=voip-users,ou=groups,dc=unisi,dc=it
objectClass: groupOfNames
cn: voip-users
member: uid=rossi,ou=people,dc=unisi,dc=it
member: uid=bianchi,ou=people,dc=unisi,dc=it
`

// startSlapd runs Debian's slapd with a configuration and data of the
// test's own on a free loopback port, until the test ends, and returns
// its URL and a function that stops it early. Without slapd the test is
// skipped.
func startSlapd(t *testing.T) (url string, stop func()) {
	t.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/slapd"); serr != nil {
			t.Skip("slapd not installed (apt-get install slapd; .ci/run installs it): skipping the LDAP login test")
		}
		slapd = "/usr/sbin/slapd"
	}
	slapadd := filepath.Join(filepath.Dir(slapd), "slapadd")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	os.WriteFile(conf, []byte(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile `+filepath.Join(dir, "slapd.pid")+`
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
database mdb
maxsize 10485760
suffix "dc=unisi,dc=it"
rootdn "cn=admin,dc=unisi,dc=it"
directory `+filepath.Join(dir, "data")+`
`), 0o600)
	ldif := filepath.Join(dir, "data.ldif")
	os.WriteFile(ldif, []byte(ldapData), 0o600)
	if out, err := exec.Command(slapadd, "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		url = "ldap://127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(slapd, "-f", conf, "-h", url+"/", "-d", "0")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				cmd.Process.Kill()
				<-exited
			}
		}
		t.Cleanup(stop)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
				c.Close()
				return url, stop
			}
			select {
			case err := <-exited:
				stopped = true
				if attempt < 3 {
					break // the port was taken meanwhile: another
				}
				t.Fatalf("slapd exited: %v\n%s", err, out.String())
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatalf("slapd not listening after 20 s:\n%s", out.String())
				}
				continue
			}
			break
		}
	}
}

func testLDAP(t *testing.T, url string) *LDAP {
	t.Helper()
	d, err := NewLDAP(LDAPConfig{URL: url, UserDN: "uid=%s,ou=people,dc=unisi,dc=it", GroupBase: "ou=groups,dc=unisi,dc=it",
		AdminGroups: []string{"cn=voip-admins,ou=groups,dc=unisi,dc=it"}, UserGroups: []string{"CN=voip-users,ou=groups,dc=unisi,dc=it"},
		AccountAttr: "telephoneNumber", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLDAP binds as each person of a real slapd: the groups map to the
// scopes, the telephone number to the account; wrong passwords, unknown
// people, people in no group, empty passwords and filter characters are
// refused.
func TestLDAP(t *testing.T) {
	url, stop := startSlapd(t)
	d := testLDAP(t, url)
	ctx := context.Background()
	for _, tc := range []struct {
		name, password string
		want           Principal
		err            error
	}{
		{"verdi", "verdi-pw", Principal{Name: "verdi", Scope: ScopeAdmin}, nil},
		{"rossi", "rossi-pw", Principal{Name: "rossi", Scope: ScopeUser, Account: "5002"}, nil},
		{"rossi", "wrong", Principal{}, ErrBadCredentials},
		{"rossi", "", Principal{}, ErrBadCredentials},
		{"nobody", "x", Principal{}, ErrBadCredentials},
		{"neri", "neri-pw", Principal{}, ErrBadCredentials},
		{"*", "rossi-pw", Principal{}, ErrBadCredentials},
		{"rossi,ou=people", "rossi-pw", Principal{}, ErrBadCredentials},
	} {
		got, err := d.Authenticate(ctx, tc.name, tc.password)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%s/%s: got %+v, %v; want %+v, %v", tc.name, tc.password, got, err, tc.want, tc.err)
		}
	}

	t.Run("login through the API", func(t *testing.T) {
		f := newFixture(t)
		f.h.cfg.Directory = d
		ts := newTLS(t, f)
		rossi := newClient(t, ts)
		s := rossi.login("rossi", "rossi-pw")
		if s.Scope != ScopeUser || s.Account != "5002" {
			t.Fatalf("rossi's session: %+v", s)
		}
		rossi.want("GET", "/admin/api/accounts/5002", nil, 200)
		rossi.want("GET", "/admin/api/accounts/5003", nil, 403)
		rossi.want("GET", "/admin/api/accounts", nil, 403)
		verdi := newClient(t, ts)
		verdi.login("verdi", "verdi-pw")
		verdi.want("GET", "/admin/api/accounts", nil, 200)
		verdi.want("PUT", "/admin/api/notice", map[string]any{"text": "LDAP works"}, 200)
		if a, _ := f.store.Audit(ctx, AuditFilter{Limit: 1}); len(a) != 1 || a[0].Who != "verdi" {
			t.Errorf("audit: %+v", a)
		}
		if code, _, _ := newClient(t, ts).do("POST", "/admin/api/login", map[string]any{"name": "neri", "password": "neri-pw"}); code != 401 {
			t.Errorf("neri, in no group: got %d, want 401", code)
		}
		// A local login of the same name wins over the directory.
		newClient(t, ts).login("admin", adminPassword)

		stop()
		if code, b, _ := newClient(t, ts).do("POST", "/admin/api/login", map[string]any{"name": "bianchi", "password": "bianchi-pw"}); code != 503 {
			t.Errorf("directory down: got %d %s, want 503", code, b)
		}
	})
}

func TestNewLDAPRefuses(t *testing.T) {
	for _, c := range []LDAPConfig{{}, {URL: "ldap://x", UserDN: "uid=x"}, {URL: "ldap://x", UserDN: "uid=%s", AdminGroups: []string{"cn=a"}}} {
		if _, err := NewLDAP(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
