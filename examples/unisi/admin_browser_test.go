package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
		chromedp.WindowSize(412, 915), // a phone's screen
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// shot saves a screenshot of the whole page as name.png in dir (quality
// 100 makes chromedp ask for PNG).
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
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

// TestAdminBrowser drives the admin page in Chromium against the running
// example: log in, create an account, watch a call placed through the
// router by siptest phones appear on the live page and leave it; as the
// user 5002, set a call forward and see the next call obey it, and be
// refused 5003's page.
func TestAdminBrowser(t *testing.T) {
	ctx := browser(t, 3*time.Minute)
	dir := artefacts(t)
	e := newAdminExample(t, "first-admin-pw")
	// Chromium keeps a Secure cookie from http://localhost (a secure
	// context), not from other plain-HTTP hosts.
	base := "http://localhost:" + e.http[strings.LastIndex(e.http, ":")+1:]

	browse(t, ctx, "log in",
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), "first-admin-pw"),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
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

	e.phone("5002")
	p3 := e.phone("5003")
	caller := siptest.NewUA(t, siptest.WithUser("5004"), siptest.WithProxy(e.addr), siptest.WithCredentials("5004", "unisi5004"))
	sctx := ctxT(t, 2*time.Minute)
	browse(t, ctx, "open the live page", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#calls-table")),
		chromedp.Poll[chromedp.Void](`document.body.dataset.live === "open"`, chromedp.WithPollingTimeout(30*time.Second)))
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
	shot(t, ctx, dir, "05-forward")
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
	if heading != "Forbidden" || strings.Contains(body, "forward") {
		t.Errorf("5002 on 5003's page: heading %q, page:\n%s", heading, body)
	}
	t.Logf("screenshots in %s", dir)
}
