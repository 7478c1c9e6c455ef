package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/palio-voip/palio/admin"
	"github.com/palio-voip/palio/sip/siptest"
)

// chromiumPath finds Debian's Chromium, or skips the test saying how to
// get it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (apt-get install chromium; .ci/run installs it): skipping the admin page's browser test")
	return ""
}

// artefacts is where the browser test's screenshots go: $PALIO_TEST_ARTEFACTS
// when set (CI keeps it), else the test's temporary directory.
func artefacts(t *testing.T) string {
	if d := os.Getenv("PALIO_TEST_ARTEFACTS"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err == nil {
			return dir
		}
	}
	return t.TempDir()
}

// browser starts a headless Chromium for t and returns its context.
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// A phone's screen, 412×915 CSS pixels: a headless window of that
	// size is widened to 500 px, so the tab's own viewport is emulated,
	// as a mobile one (the page's meta viewport applies).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(412, 915, chromedp.EmulateMobile, chromedp.EmulatePortrait)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// noOverflow reports an error when the page ctx shows is wider than the
// phone's screen: it would have to scroll the whole page sideways (a wide
// table scrolls inside its own box instead). A page without a meta
// viewport would be laid out 980 px wide: that is an error too.
func noOverflow(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if err != nil {
		t.Fatalf("%s: measuring the page: %v", page, err)
	}
	if len(got) != 2 || got[0] > got[1] || got[1] != 412 {
		// Name the outermost elements that stick out.
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 412 && !(e.parentElement.getBoundingClientRect().right > 412)).slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "") + " " + Math.round(e.getBoundingClientRect().right))`))
		t.Errorf("%s: the page is wider than the phone's screen: scrollWidth, innerWidth = %v, want at most 412; sticking out: %v", page, got, wide)
	}
}

// shot saves a screenshot of the whole page as name.png in dir (quality
// 100 makes chromedp ask for PNG) after checking that the page fits the
// phone's screen.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if name != "failed" {
		noOverflow(t, ctx, name)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// browse runs a step of the test, within a minute; on failure the page's
// screenshot is kept.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		dir := t.TempDir()
		shot(t, ctx, dir, "failed")
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nscreenshot: %s\npage:\n%s", what, err, dir, html)
	}
}

// tabTo presses Tab until the element with the given id has the focus,
// as someone with a keyboard alone would, at most 20 times.
func tabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for range 20 {
		browse(t, ctx, "press Tab", chromedp.KeyEvent(kb.Tab))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
		if err != nil {
			t.Fatal(err)
		}
		if got == id {
			return
		}
	}
	t.Fatalf("Tab never reached #%s", id)
}

// a11yScript is the accessibility check (testdata/a11y.js): it returns
// the page's problems, a form control without a label or text with a
// contrast under 4.5:1.
func a11yScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "a11y.js"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// a11y runs the accessibility check on the page ctx shows and reports
// each problem as an error; a page wider than the phone's screen is one.
func a11y(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	noOverflow(t, ctx, page)
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yScript(t)))
	if err != nil {
		t.Fatalf("%s: accessibility check: %v", page, err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", page, p)
	}
}

// checkPages opens each page and runs the accessibility check on it.
func checkPages(t *testing.T, ctx context.Context, base string, pages ...string) {
	t.Helper()
	for _, p := range pages {
		browse(t, ctx, "open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		a11y(t, ctx, p)
	}
}

// TestA11yCheck: the accessibility check finds what it looks for: a field
// without a label, a nameless button, faint text, and text on a dark
// background that is not light enough; a labelled field and readable
// text pass.
func TestA11yCheck(t *testing.T) {
	ctx := browser(t, time.Minute)
	page := `<!doctype html><html lang="en"><meta name="viewport" content="width=device-width"><body style="background:#fff;color:#111">
<p><label for="ok">Name</label><input id="ok"></p>
<p><input id="nolabel"></p>
<p><label for="empty"> </label><select id="empty"><option>x</option></select></p>
<p><input id="aria" aria-label="Search"></p>
<button type="button"></button><button type="button">Go</button>
<p style="color:#999">faint grey</p>
<div style="background:#0b4f8a"><span style="color:#6b8fb0">blue on blue</span><span style="color:#fff">white on blue</span></div>
<div style="background:rgba(0,0,0,0.5)"><span style="color:#444">dark on half black</span></div>
</body></html>`
	browse(t, ctx, "the test page", chromedp.Navigate("data:text/html,"+url.PathEscape(page)), chromedp.WaitVisible(chromedp.CSS("#ok")))
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yScript(t)))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{"no label: input#nolabel", "no label: select#empty", "button without a name", `"faint grey"`, `"blue on blue"`, `"dark on half black"`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q among the problems:\n%s", want, got)
		}
	}
	for _, not := range []string{"input#ok", "input#aria", `"Go"`, `"white on blue"`, `"Name"`} {
		if strings.Contains(got, not) {
			t.Errorf("%s reported:\n%s", not, got)
		}
	}
}

// TestAdminBrowser drives the admin page in Chromium against the running
// example: log in, create an account, watch a call placed through the
// router by siptest phones appear on the live page and leave it; as the
// user 5002, set a call forward and see the next call obey it, and be
// refused 5003's page.
func TestAdminBrowser(t *testing.T) {
	ctx := browser(t, 3*time.Minute)
	dir := artefacts(t)
	e := newAdminExample(t, "first-admin-pw", func(e *example) { e.gateways(nil) })
	// Chromium keeps a Secure cookie from http://localhost (a secure
	// context), not from other plain-HTTP hosts.
	base := "http://localhost:" + e.http[strings.LastIndex(e.http, ":")+1:]

	browse(t, ctx, "the login page", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#name")))
	a11y(t, ctx, "/admin/login")
	// The administrator logs in with the keyboard alone: Tab to the
	// name, type, Tab to the password, type, Enter.
	tabTo(t, ctx, "name")
	browse(t, ctx, "type the name", chromedp.KeyEvent("admin"))
	tabTo(t, ctx, "password")
	browse(t, ctx, "type the password and press Enter",
		chromedp.KeyEvent("first-admin-pw"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#calls-table")),
	)
	shot(t, ctx, dir, "01-live")

	browse(t, ctx, "create an account",
		chromedp.Navigate(base+"/admin/accounts"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "5300"),
		chromedp.SendKeys(chromedp.CSS("#new-password"), "pw-5300-long"),
		chromedp.Click(chromedp.CSS(`form[data-api="/admin/api/accounts"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/accounts/5300@voip.unisi.it"]`)),
	)
	shot(t, ctx, dir, "02-accounts")
	ua := siptest.NewUA(t, siptest.WithUser("5300"))
	if res, err := ua.Register(ctxT(t, 5*time.Second), e.addr, "sip:5300@voip.unisi.it", "pw-5300-long", 3600); err != nil || res.StatusCode != 200 {
		t.Fatalf("the account created in the page does not register: %v %v", res, err)
	}

	browse(t, ctx, "route a call to the new account",
		chromedp.Navigate(base+"/admin/route"),
		chromedp.WaitVisible(chromedp.CSS("#number")),
		chromedp.SendKeys(chromedp.CSS("#number"), "5300"),
		chromedp.SendKeys(chromedp.CSS("#from"), "5002"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/route"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#route-result")),
	)
	if res, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#route-result"))); err != nil || res != "200 OK (dry run: would forward)" {
		t.Errorf("the route page's result: %q %v, want 200 OK (dry run: would forward)", res, err)
	}
	if steps, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#route-steps"))); err != nil || !strings.Contains(steps, "registrar lookup of 5300@voip.unisi.it") {
		t.Errorf("the route page's steps: %q %v", steps, err)
	}
	a11y(t, ctx, "/admin/route (a result)")
	shot(t, ctx, dir, "02-route")

	browse(t, ctx, "a dialplan rule with a bad regex",
		chromedp.Navigate(base+"/admin/dialplan"),
		chromedp.WaitVisible(chromedp.CSS("#rule-match")),
		chromedp.SetValue(chromedp.CSS("#rule-op"), "1"),
		chromedp.SendKeys(chromedp.CSS("#rule-match"), "^(99"),
		chromedp.SendKeys(chromedp.CSS("#rule-attrs"), "test"),
		chromedp.Click(chromedp.CSS(`#new-rule button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#new-rule .error").textContent.startsWith("match_exp:") && document.querySelector("#rule-match").getAttribute("aria-invalid") === "true"`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	shot(t, ctx, dir, "02-dialplan-refused")
	browse(t, ctx, "the rule, corrected",
		chromedp.SetValue(chromedp.CSS("#rule-match"), "^99[0-9]{2}$"),
		// The page reloads once the rule is stored: mark this one to see it go.
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#new-rule button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#rules")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#rules td")].some(td => td.textContent === "^99[0-9]{2}$")`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	boss0 := adminLogin(t, e.http, "admin", "first-admin-pw")
	var tr admin.Translation
	json.Unmarshal(boss0.want("GET", "/admin/api/dialplan/translate?dpid=0&number=9912", nil, 200), &tr)
	if !tr.Matched || tr.Attrs != "test" {
		t.Errorf("the rule added in the page is not in the running rules: %+v", tr)
	}
	// A phone nobody assigned asks for its configuration: the devices
	// page offers it to assign.
	if res, err := http.Get("http://" + e.http + "/prov/snom760-000413FFEEDD.htm"); err != nil {
		t.Fatalf("an unknown phone's fetch: %v", err)
	} else {
		res.Body.Close()
	}
	// An operator switches a gateway off: routing's event becomes an
	// alert (app_ops.go), which the alerts page lists. Routing logs the
	// gateways' states itself and no [alerts] notifier is configured
	// here, so no notifier takes it, and the page says so.
	boss0.want("POST", "/admin/api/gateways/gw-grosseto/disable", nil, 200)
	checkPages(t, ctx, base, "/admin/accounts", "/admin/accounts/5002", "/admin/aliases", "/admin/cdrs", "/admin/reports",
		"/admin/devices", "/admin/bans", "/admin/logins", "/admin/dialplan", "/admin/dialplan/2", "/admin/notice", "/admin/alerts", "/admin/blacklist")
	browse(t, ctx, "a global blacklist row with a bad prefix",
		chromedp.Navigate(base+"/admin/blacklist"),
		chromedp.WaitVisible(chromedp.CSS("#gbl-prefix")),
		chromedp.SendKeys(chromedp.CSS("#gbl-prefix"), "0899x"),
		chromedp.SendKeys(chromedp.CSS("#gbl-description"), "premium rate"),
		chromedp.Click(chromedp.CSS(`#global-add button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#global-add .error").textContent.startsWith("prefix:") && document.querySelector("#gbl-prefix").getAttribute("aria-invalid") === "true"`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	browse(t, ctx, "the row, corrected",
		chromedp.SetValue(chromedp.CSS("#gbl-prefix"), "0899"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#global-add button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#global-blacklist")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#global-blacklist tbody tr")].some(tr => tr.cells[0].textContent === "0899" && tr.cells[2].textContent === "premium rate")`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	a11y(t, ctx, "/admin/blacklist (a row added)")
	shot(t, ctx, dir, "02-blacklist")
	var global []admin.GlobalEntry
	json.Unmarshal(boss0.want("GET", "/admin/api/blacklist", nil, 200), &global)
	i := slices.IndexFunc(global, func(g admin.GlobalEntry) bool { return g.Prefix == "0899" && !g.Allow })
	if i < 0 {
		t.Fatalf("the global list in the API: %+v, want 0899 blocked", global)
	}
	browse(t, ctx, "change the row's description",
		chromedp.SetValue(chromedp.CSS("#gbl-edit-id"), strconv.Itoa(global[i].ID)),
		chromedp.SendKeys(chromedp.CSS("#gbl-edit-description"), "premium rate, all"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#global-edit button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#global-blacklist")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#global-blacklist tbody tr")].some(tr => tr.cells[0].textContent === "0899" && tr.cells[2].textContent === "premium rate, all")`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	browse(t, ctx, "the gateway's alert",
		chromedp.Navigate(base+"/admin/alerts"),
		chromedp.WaitVisible(chromedp.CSS("#alerts")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#alerts tbody tr")].some(tr => tr.cells.length === 6 && tr.cells[2].textContent === "gateway-down" && tr.cells[3].textContent === "gateway gw-grosseto" && tr.cells[5].textContent === "no notifier took it")`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	shot(t, ctx, dir, "02-alerts")
	var alerts []admin.Alert
	json.Unmarshal(boss0.want("GET", "/admin/api/alerts", nil, 200), &alerts)
	// (Other gateways' probes may raise theirs meanwhile.)
	if i := slices.IndexFunc(alerts, func(a admin.Alert) bool { return a.Subject == "gateway gw-grosseto" }); i < 0 ||
		alerts[i].Kind != "gateway-down" || alerts[i].Severity != "warning" || alerts[i].Fields["cause"] != "operator" {
		t.Errorf("the alerts in the API: %+v, want gw-grosseto's gateway-down (warning, cause operator)", alerts)
	}
	for i := 1; i < len(alerts); i++ {
		if alerts[i].Seq >= alerts[i-1].Seq {
			t.Errorf("the alerts in the API are not newest first: %+v", alerts)
		}
	}
	boss0.want("POST", "/admin/api/gateways/gw-grosseto/enable", nil, 200)
	browse(t, ctx, "assign the unknown phone to an account that does not exist",
		chromedp.Navigate(base+"/admin/devices"),
		chromedp.WaitVisible(chromedp.CSS("#assign-lines")),
		chromedp.SetValue(chromedp.CSS("#assign-mac"), "000413ffeedd"),
		chromedp.SendKeys(chromedp.CSS("#assign-name"), "Sala riunioni"),
		chromedp.SendKeys(chromedp.CSS("#assign-lines"), "5999"),
		chromedp.Click(chromedp.CSS(`#assign button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#assign .error").textContent.startsWith("lines:") && document.querySelector("#assign-lines").getAttribute("aria-invalid") === "true"`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	shot(t, ctx, dir, "02-assign-refused")
	browse(t, ctx, "assign the unknown phone to 5300",
		chromedp.SetValue(chromedp.CSS("#assign-lines"), "5300"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#assign button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#devices")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#devices tr")].some(tr => tr.textContent.includes("000413ffeedd") && tr.textContent.includes("Sala riunioni") && tr.textContent.includes("5300"))`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#assign").length + [...document.querySelectorAll("#unknown-devices td")].filter(td => td.textContent === "000413ffeedd").length`)); err != nil || n != 0 {
		t.Errorf("after the assignment the phone is still offered or listed as unknown (%d, %v)", n, err)
	}
	a11y(t, ctx, "/admin/devices (assigned)")
	shot(t, ctx, dir, "02-assigned")
	browse(t, ctx, "rename the phone and ask for its resync",
		chromedp.SetValue(chromedp.CSS("#edit-mac"), "000413ffeedd"),
		chromedp.SendKeys(chromedp.CSS("#edit-name"), "Sala riunioni B"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#device-edit button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#devices")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#devices tr")].some(tr => tr.textContent.includes("Sala riunioni B") && tr.textContent.includes("5300"))`, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Click(chromedp.CSS(`button[data-api="/admin/api/devices/000413ffeedd/resync"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#live-status").textContent.startsWith("Resync of 000413ffeedd requested")`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	a11y(t, ctx, "/admin/devices (renamed, resync asked)")

	browse(t, ctx, "change 5300's classes",
		chromedp.Navigate(base+"/admin/accounts/5300@voip.unisi.it"),
		chromedp.WaitVisible(chromedp.CSS("#edit-classes")),
		chromedp.SetValue(chromedp.CSS("#edit-classes"), "local, galactic"),
		chromedp.Click(chromedp.CSS(`#classes-edit button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#classes-edit .error").textContent.startsWith("classes:") && document.querySelector("#edit-classes").getAttribute("aria-invalid") === "true"`, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.SetValue(chromedp.CSS("#edit-classes"), "local, national"),
		chromedp.SetValue(chromedp.CSS("#edit-inbound"), "local"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#classes-edit button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#edit-classes")),
	)
	var acct admin.Account
	json.Unmarshal(boss0.want("GET", "/admin/api/accounts/5300", nil, 200), &acct)
	if !slices.Equal(acct.Classes, []string{"local", "national"}) || !slices.Equal(acct.Inbound, []string{"local"}) {
		t.Errorf("5300 after the classes form: %+v, want local,national and inbound local", acct)
	}
	a11y(t, ctx, "/admin/accounts/5300 (classes changed)")
	browse(t, ctx, "give 5300 an owner and find it by the owner's name",
		chromedp.WaitVisible(chromedp.CSS("#edit-owner")),
		chromedp.SendKeys(chromedp.CSS("#edit-owner"), "Chiara Fontana"),
		chromedp.SendKeys(chromedp.CSS("#edit-note"), "sala lettura"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`#info-edit button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#account-owner").textContent === "Chiara Fontana"`, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Navigate(base+"/admin/accounts"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), "chiara fon"),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.stale = "1"`),
		chromedp.Click(chromedp.CSS(`form.search button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS("body[data-stale]")),
		chromedp.WaitVisible(chromedp.CSS("#accounts")),
		chromedp.Poll[chromedp.Void](`location.search === "?q=chiara+fon" && document.querySelector('a[href="/admin/accounts/5300@voip.unisi.it"]') !== null && document.querySelectorAll("#accounts tbody tr").length === 1`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	if row, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#accounts tbody tr"))); err != nil || !strings.Contains(row, "Chiara Fontana") || !strings.Contains(row, "sala lettura") {
		t.Errorf("the search's row: %q %v, want the owner and the note", row, err)
	}
	shot(t, ctx, dir, "02b-accounts-owner")
	a11y(t, ctx, "/admin/accounts?q=chiara+fon")
	browse(t, ctx, "delete 5300",
		chromedp.Navigate(base+"/admin/accounts/5300@voip.unisi.it"),
		chromedp.WaitVisible(chromedp.CSS("#delete-sure")),
		chromedp.Click(chromedp.CSS("#delete-sure")),
		chromedp.Click(chromedp.CSS(`#account-delete button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#accounts")),
		chromedp.Poll[chromedp.Void](`location.pathname === "/admin/accounts" && !document.querySelector('a[href="/admin/accounts/5300@voip.unisi.it"]')`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	boss0.want("GET", "/admin/api/accounts/5300", nil, 404)
	waitFor(t, 10*time.Second, "the deleted account's REGISTER refused", func() bool {
		res, err := ua.Register(ctxT(t, 5*time.Second), e.addr, "sip:5300@voip.unisi.it", "pw-5300-long", 3600)
		return err == nil && res.StatusCode != 200
	})

	e.phone("5002")
	p3 := e.phone("5003")
	caller := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithProxy(e.addr), siptest.WithCredentials("5004", "unisi5004"))
	sctx := ctxT(t, 2*time.Minute)
	browse(t, ctx, "open the live page", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#calls-table")),
		chromedp.Poll[chromedp.Void](`document.body.dataset.live === "open"`, chromedp.WithPollingTimeout(30*time.Second)))
	a11y(t, ctx, "/admin/")
	c, err := caller.Invite(sctx, "sip:5002@"+e.addr)
	if code := finalCode(t, c, err); code != 200 {
		t.Fatalf("5004 → 5002: %d", code)
	}
	row := `#calls tr[data-callid="` + c.CallID() + `"]`
	browse(t, ctx, "the call appears", chromedp.WaitVisible(chromedp.CSS(row)))
	shot(t, ctx, dir, "03-call")
	c.Bye(sctx)
	browse(t, ctx, "the call leaves", chromedp.WaitNotPresent(chromedp.CSS(row)))
	shot(t, ctx, dir, "04-call-ended")

	// A call out through gw-grosseto (a test UA here) takes one of its
	// channels, and gives it back, on the page as it happens.
	usage := func(want string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`(document.querySelector('#gateways tr[data-gateway="gw-grosseto"]') || {cells: []}).cells[2]?.textContent === "`+want+`"`, chromedp.WithPollingTimeout(30*time.Second))
	}
	browse(t, ctx, "gw-grosseto idle", usage("0 / 30"))
	out, err := caller.Invite(sctx, "sip:00564123456@"+e.addr)
	if code := finalCode(t, out, err); code != 200 {
		t.Fatalf("5004 → 00564123456 through gw-grosseto: %d", code)
	}
	browse(t, ctx, "gw-grosseto's channel in use", usage("1 / 30"))
	shot(t, ctx, dir, "04-trunk-in-use")
	out.Bye(sctx)
	browse(t, ctx, "gw-grosseto's channel given back", usage("0 / 30"))

	boss := adminLogin(t, e.http, "admin", "first-admin-pw")
	boss.want("PUT", "/admin/api/logins/5002", map[string]any{"scope": "user", "account": "5002", "password": "mario-rossi-pw"}, 201)
	browse(t, ctx, "log in as 5002",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "5002"),
		chromedp.SendKeys(chromedp.CSS("#password"), "mario-rossi-pw"),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#forward-always")),
	)
	browse(t, ctx, "set the forward",
		chromedp.SendKeys(chromedp.CSS("#forward-always"), "5003"),
		chromedp.Click(chromedp.CSS(`#features button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#features .status").textContent === "Saved."`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	a11y(t, ctx, "/admin/accounts/5002 (as 5002)")
	shot(t, ctx, dir, "05-forward")
	browse(t, ctx, "change one's own login password",
		chromedp.SendKeys(chromedp.CSS("#own-old"), "mario-rossi-pw"),
		chromedp.SendKeys(chromedp.CSS("#own-new"), "mario-rossi-pw-2"),
		chromedp.Click(chromedp.CSS(`#own-password button[type="submit"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector("#own-password .status").textContent === "Saved."`, chromedp.WithPollingTimeout(30*time.Second)),
	)
	adminLogin(t, e.http, "5002", "mario-rossi-pw-2")
	waitFor(t, 20*time.Second, "5002's forward to 5003", func() bool {
		n3 := len(p3.Incoming())
		c, err := caller.Invite(sctx, "sip:5002@"+e.addr)
		finalCode(t, c, err)
		c.Bye(sctx)
		return len(p3.Incoming()) > n3
	})

	browse(t, ctx, "5003's page", chromedp.Navigate(base+"/admin/accounts/5003"), chromedp.WaitVisible(chromedp.CSS("h1")))
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, dir, "06-refused")
	a11y(t, ctx, "the refusal page")
	if heading != "Forbidden" || strings.Contains(body, "forward") {
		t.Errorf("5002 on 5003's page: heading %q, page:\n%s", heading, body)
	}
	t.Logf("screenshots in %s", dir)
}
