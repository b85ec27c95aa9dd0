package web_test

import (
	"encoding/csv"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
)

// issueTokens makes real API tokens in the stack's store for alice, dave
// and a person named like a spreadsheet formula, and returns what turns
// the tests' names for them (tok-alice, tok-dave, tok-formula) into their
// secrets; any other name is given as it is (a wrong token).
func issueTokens(tb testing.TB, s *heedtest.Stack) func(name string) string {
	tb.Helper()
	secrets := map[string]string{}
	for name, person := range map[string]string{"tok-alice": "alice", "tok-dave": "dave", "tok-formula": "=SUM(A1)"} {
		_, secret, err := s.Service.Tokens.CreateToken(s.Ctx, person, "admin", "cli")
		if err != nil {
			tb.Fatal(err)
		}
		secrets[name] = secret
	}
	return func(name string) string {
		if secret, ok := secrets[name]; ok {
			return secret
		}
		return name
	}
}

// site is a heed stack with its HTTP listener (and the web view) served.
type site struct {
	*heedtest.Stack
	URL string
	tok func(name string) string
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := heedtest.New(t, heedtest.Options{})
	srv := httptest.NewServer(s.System.HTTP(app.HTTPOptions{}))
	t.Cleanup(srv.Close)
	return &site{Stack: s, URL: srv.URL, tok: issueTokens(t, s)}
}

// client is a browser without a browser: a cookie jar, and redirects not
// followed.
func (s *site) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9A-Za-z_-]+)"`)

// postSignIn fills in the sign-in form as a browser does: it loads the
// form (and its check), then sends it with token.
func (s *site) postSignIn(t *testing.T, c *http.Client, token string, hdr ...string) (*http.Response, string) {
	t.Helper()
	_, form := do(t, c, "GET", s.URL+"/signin", nil, hdr...)
	m := csrfRE.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in form:\n%s", form)
	}
	return do(t, c, "POST", s.URL+"/signin", url.Values{"token": {s.tok(token)}, "csrf": {m[1]}}, hdr...)
}

// signIn signs c in with token and returns the session's CSRF token.
func (s *site) signIn(t *testing.T, c *http.Client, token string) string {
	t.Helper()
	resp, body := s.postSignIn(t, c, token)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %s\n%s", resp.Status, body)
	}
	_, body = do(t, c, "GET", s.URL+"/pauses", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the pauses page:\n%s", body)
	}
	return m[1]
}

func (s *site) pauses(t *testing.T) []approvals.Pause {
	t.Helper()
	ps, err := s.Service.Pauses.ActivePauses(s.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestWebPagesNeedASession(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	for _, path := range []string{"/", "/calendar", "/calendar?view=week", "/queue", "/occurrences/1", "/pauses", "/audit", "/audit.csv"} {
		resp, _ := do(t, c, "GET", s.URL+path, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin?next=") {
			t.Errorf("GET %s without a session: %s to %q, want 303 to /signin", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	resp, _ := do(t, c, "POST", s.URL+"/pauses", url.Values{"reason": {"x"}, "csrf": {"0"}})
	if resp.StatusCode != http.StatusUnauthorized || len(s.pauses(t)) != 0 {
		t.Fatalf("POST /pauses without a session: %s, %d pauses; want 401 and none", resp.Status, len(s.pauses(t)))
	}
	resp, body := do(t, c, "GET", s.URL+"/signin", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) {
		t.Fatalf("sign-in page: %s\n%s", resp.Status, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if xfo := resp.Header.Get("X-Frame-Options"); xfo != "DENY" {
		t.Errorf("X-Frame-Options %q, want DENY", xfo)
	}
	// The listener's own endpoints still answer beside the web view.
	if resp, _ := do(t, c, "GET", s.URL+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
}

func TestWebBadTokenSignsNobodyIn(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	resp, body := s.postSignIn(t, c, "tok-mallory")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "was not accepted") {
		t.Fatalf("bad token: %s\n%s", resp.Status, body)
	}
	if strings.Contains(body, "tok-mallory") {
		t.Error("the refused token is said back in the page")
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "heed_session" {
			t.Errorf("a session cookie is set for a bad token: %v", ck)
		}
	}
	var n int
	if err := s.Store.DB().QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d sessions stored (%v), want 0", n, err)
	}
	if resp, _ := do(t, c, "GET", s.URL+"/calendar", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("calendar after a bad token: %s, want a redirect to sign in", resp.Status)
	}
}

func TestWebSessionCookieFlags(t *testing.T) {
	s := newSite(t)
	for _, tc := range []struct {
		name   string
		hdr    []string
		secure bool
	}{{"plain", nil, false}, {"behind a TLS proxy", []string{"X-Forwarded-Proto", "https"}, true}} {
		resp, _ := s.postSignIn(t, s.client(t), "tok-alice", tc.hdr...)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: sign in: %s", tc.name, resp.Status)
		}
		var ck *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "heed_session" {
				ck = c
			}
		}
		if ck == nil {
			t.Fatalf("%s: no session cookie", tc.name)
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure != tc.secure {
			t.Errorf("%s: cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /, Secure=%v",
				tc.name, ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, tc.secure)
		}
		var stored int
		if err := s.Store.DB().QueryRow(`SELECT count(*) FROM web_sessions WHERE id_hash = ?`, ck.Value).Scan(&stored); err != nil || stored != 0 {
			t.Errorf("%s: the session's secret is stored as is (%v)", tc.name, err)
		}
	}
	var people []string
	rows, err := s.Store.DB().Query(`SELECT person FROM web_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		_ = rows.Scan(&p)
		people = append(people, p)
	}
	rows.Close()
	if len(people) != 2 || people[0] != "alice" {
		t.Fatalf("sessions stored for %v, want alice twice", people)
	}
}

func TestWebSignInNeedsItsCSRF(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	// Another site's form: no check, or a check of another browser's form.
	_, other := do(t, s.client(t), "GET", s.URL+"/signin", nil)
	for _, csrf := range []string{"", csrfRE.FindStringSubmatch(other)[1]} {
		form := url.Values{"token": {s.tok("tok-alice")}}
		if csrf != "" {
			form.Set("csrf", csrf)
		}
		resp, body := do(t, c, "POST", s.URL+"/signin", form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not carry its check") {
			t.Fatalf("sign in with CSRF %q: %s\n%s", csrf, resp.Status, body)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "heed_session" {
				t.Fatalf("a session cookie is set without the form's check: %v", ck)
			}
		}
	}
	var n int
	if err := s.Store.DB().QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d sessions stored (%v), want 0", n, err)
	}
}

func TestWebSessionExpires(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	s.signIn(t, c, "tok-alice")
	s.Clock.Advance(11 * time.Hour)
	if resp, _ := do(t, c, "GET", s.URL+"/calendar", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("calendar 11 h after signing in: %s, want 200", resp.Status)
	}
	s.Clock.Advance(time.Hour)
	if resp, _ := do(t, c, "GET", s.URL+"/calendar", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("calendar 12 h after signing in: %s, want a redirect to sign in", resp.Status)
	}
}

func TestWebSignOut(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	csrf := s.signIn(t, c, "tok-alice")
	if resp, _ := do(t, c, "POST", s.URL+"/signout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %s", resp.Status)
	}
	if resp, _ := do(t, c, "GET", s.URL+"/queue", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("queue after signing out: %s, want a redirect to sign in", resp.Status)
	}
}

func TestWebCSRFRefused(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	csrf := s.signIn(t, c, "tok-dave")
	other := s.signIn(t, s.client(t), "tok-dave") // another session's token
	for _, tc := range []struct{ name, csrf string }{{"missing", ""}, {"wrong", strings.Repeat("0", 64)}, {"another session's", other}} {
		form := url.Values{"reason": {"news"}}
		if tc.csrf != "" {
			form.Set("csrf", tc.csrf)
		}
		resp, body := do(t, c, "POST", s.URL+"/pauses", form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s CSRF token: %s, want 403\n%s", tc.name, resp.Status, body)
		}
		if n := len(s.pauses(t)); n != 0 {
			t.Fatalf("%s CSRF token: %d pauses recorded, want none", tc.name, n)
		}
	}
	resp, body := do(t, c, "POST", s.URL+"/pauses", url.Values{"reason": {"news"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Paused all publishing. By dave, reason: news.") {
		t.Fatalf("pause with the session's CSRF token: %s\n%s", resp.Status, body)
	}
	if ps := s.pauses(t); len(ps) != 1 || ps[0].By != "dave" || ps[0].Reason != "news" {
		t.Fatalf("pauses %+v", ps)
	}
}

func TestWebPauseNeedsAReason(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	csrf := s.signIn(t, c, "tok-dave")
	resp, body := do(t, c, "POST", s.URL+"/pauses", url.Values{"reason": {"  "}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Give a reason") {
		t.Fatalf("pause without a reason: %s\n%s", resp.Status, body)
	}
	if n := len(s.pauses(t)); n != 0 {
		t.Fatalf("%d pauses, want none", n)
	}
}

func TestWebResumeIsForApprovers(t *testing.T) {
	s := newSite(t)
	dave := s.client(t)
	csrf := s.signIn(t, dave, "tok-dave")
	if resp, _ := do(t, dave, "POST", s.URL+"/pauses", url.Values{"reason": {"checking"}, "csrf": {csrf}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("dave pauses: %s", resp.Status)
	}
	_, page := do(t, dave, "GET", s.URL+"/pauses", nil)
	if strings.Contains(page, `action="/pauses/resume"`) {
		t.Error("dave, no approver, is offered a Resume button")
	}
	resp, body := do(t, dave, "POST", s.URL+"/pauses/resume", url.Values{"target": {""}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "dave cannot resume: not an approver") {
		t.Fatalf("dave resumes: %s, want 403\n%s", resp.Status, body)
	}
	if n := len(s.pauses(t)); n != 1 {
		t.Fatalf("%d pauses after dave's refused resume, want 1", n)
	}
	es, err := s.Store.SearchAudit(s.Ctx, approvals.AuditQuery{Kind: "resume.refused"})
	if err != nil || len(es) != 1 || es[0].Actor != "dave" || es[0].Place != "web" {
		t.Fatalf("refused resume audited as %+v (%v)", es, err)
	}
	alice := s.client(t)
	acsrf := s.signIn(t, alice, "tok-alice")
	resp, body = do(t, alice, "POST", s.URL+"/pauses/resume", url.Values{"target": {""}, "csrf": {acsrf}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Resumed by alice") {
		t.Fatalf("alice resumes: %s\n%s", resp.Status, body)
	}
	if n := len(s.pauses(t)); n != 0 {
		t.Fatalf("%d pauses after alice resumed, want 0", n)
	}
}

func TestWebAuditCSV(t *testing.T) {
	s := newSite(t)
	s.Add("hello", time.Hour)
	c := s.client(t)
	csrf := s.signIn(t, c, "tok-dave")
	do(t, c, "POST", s.URL+"/pauses", url.Values{"reason": {"checking, the news"}, "csrf": {csrf}})
	resp, body := do(t, c, "GET", s.URL+"/audit.csv?person=dave&kind=pause", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %s %q %q", resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, body)
	}
	want := []string{"id", "at", "actor", "identity", "person", "action", "post", "occurrence", "target", "place", "detail"}
	if strings.Join(rows[0], ",") != strings.Join(want, ",") {
		t.Fatalf("header %v, want %v", rows[0], want)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows for dave's pauses, want 1:\n%s", len(rows)-1, body)
	}
	r := rows[1]
	if r[2] != "dave" || r[4] != "dave" || r[5] != "pause" || r[9] != "web" || !strings.Contains(r[10], "checking, the news") {
		t.Fatalf("row %q", r)
	}
	if _, err := time.Parse(time.RFC3339, r[1]); err != nil {
		t.Fatalf("at %q: %v", r[1], err)
	}
	// The post's own entry is in the log, and out of dave's.
	_, all := do(t, c, "GET", s.URL+"/audit.csv?kind=post", nil)
	if !strings.Contains(all, "post.add") {
		t.Fatalf("kind=post:\n%s", all)
	}
	// A cell a spreadsheet would read as a formula is quoted.
	fc := s.client(t)
	fcsrf := s.signIn(t, fc, "tok-formula")
	do(t, fc, "POST", s.URL+"/pauses", url.Values{"reason": {"x"}, "csrf": {fcsrf}})
	if _, f := do(t, c, "GET", s.URL+"/audit.csv?kind=pause", nil); !strings.Contains(f, "'=SUM(A1)") || strings.Contains(f, ",=SUM") {
		t.Fatalf("a formula-like actor is not quoted:\n%s", f)
	}
	if resp, body := do(t, c, "GET", s.URL+"/audit?from=yesterday", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "is not a date") {
		t.Fatalf("a bad from date: %s\n%s", resp.Status, body)
	}
}

// dayCell returns the calendar's cell for day (2006-01-02).
func dayCell(t *testing.T, page, day string) string {
	t.Helper()
	i := strings.Index(page, `id="day-`+day+`"`)
	if i < 0 {
		t.Fatalf("no cell for %s", day)
	}
	j := strings.Index(page[i:], "</td>")
	return page[i : i+j]
}

func TestWebCalendarInTheViewersZone(t *testing.T) {
	s := newSite(t)
	// The clock is at Mon 2030-01-07 09:00 UTC; Auckland is 13 h ahead.
	p := s.Add("late in London", 26*time.Hour+30*time.Minute) // Tue 8 11:30 UTC: Wed 9 00:30 in Auckland
	s.Cycle()
	c := s.client(t)
	s.signIn(t, c, "tok-alice")
	_, utc := do(t, c, "GET", s.URL+"/calendar?view=month&date=2030-01-01", nil)
	if !strings.Contains(dayCell(t, utc, "2030-01-08"), "late in London") {
		t.Fatalf("in the team's zone (UTC) the post is not on the 8th:\n%s", utc)
	}
	_, nz := do(t, c, "GET", s.URL+"/calendar?view=week&date=2030-01-09&tz=Pacific/Auckland", nil)
	if cell := dayCell(t, nz, "2030-01-09"); !strings.Contains(cell, "late in London") || !strings.Contains(cell, "00:30") {
		t.Fatalf("in Auckland the post is not on the 9th at 00:30:\n%s", cell)
	}
	if strings.Contains(dayCell(t, nz, "2030-01-08"), "late in London") {
		t.Fatal("in Auckland the post is on the 8th too")
	}
	_, bad := do(t, c, "GET", s.URL+"/calendar?view=month&date=2030-01-01&tz=Mars/Olympus", nil)
	if !strings.Contains(dayCell(t, bad, "2030-01-08"), "late in London") {
		t.Fatal("an unknown zone does not fall back to the team's")
	}
	_, occ := do(t, c, "GET", s.URL+"/occurrences/"+itoa(p.ID), nil)
	if !strings.Contains(occ, "Approving stays in chat") || !strings.Contains(occ, "late in London") {
		t.Fatalf("occurrence page:\n%s", occ)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWebOccurrenceShowsImagesWithAltText(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	cat := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00 the cat")
	if err := os.WriteFile(filepath.Join(dir, "cat.png"), cat, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dog.png"), append(cat, " and a dog"...), 0o644); err != nil {
		t.Fatal(err)
	}
	p := s.AddWithImages("Two pets", time.Hour,
		approvals.Media{Path: filepath.Join(dir, "cat.png"), Alt: `a cat on a "mat" <b>`},
		approvals.Media{Path: filepath.Join(dir, "dog.png")})
	s.Cycle()
	c := s.client(t)
	s.signIn(t, c, "tok-alice")
	_, page := do(t, c, "GET", s.URL+"/occurrences/"+itoa(p.ID), nil)
	for _, want := range []string{
		`<img src="/occurrences/` + itoa(p.ID) + `/images/0" alt="a cat on a &#34;mat&#34; &lt;b&gt;">`,
		`<img src="/occurrences/` + itoa(p.ID) + `/images/1" alt="">`,
		"no alt text: people who cannot see it get no description",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the occurrence page lacks %s", want)
		}
	}
	if strings.Contains(page, "<b>") {
		t.Error("the alt text is not escaped")
	}
	resp, body := do(t, c, "GET", s.URL+"/occurrences/"+itoa(p.ID)+"/images/0", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || body != string(cat) {
		t.Fatalf("image 0: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	if resp, _ := do(t, c, "GET", s.URL+"/occurrences/"+itoa(p.ID)+"/images/2", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("image 2 of 2: %s, want 404", resp.Status)
	}
	if resp, _ := do(t, s.client(t), "GET", s.URL+"/occurrences/"+itoa(p.ID)+"/images/0", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an image without a session: %s, want a redirect to sign in", resp.Status)
	}
}

func TestWebAuditFilters(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	csrf := s.signIn(t, c, "tok-dave")
	do(t, c, "POST", s.URL+"/pauses", url.Values{"reason": {"first"}, "csrf": {csrf}}) // Mon 7 Jan 09:00 UTC
	s.Clock.Advance(24 * time.Hour)
	csrf = s.signIn(t, c, "tok-alice")
	do(t, c, "POST", s.URL+"/pauses/resume", url.Values{"csrf": {csrf}}) // Tue 8 Jan
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"kind=pause", []string{"pause"}},
		{"kind=resume", []string{"resume"}},
		{"person=alice", []string{"resume"}},
		{"from=2030-01-08", []string{"resume"}},
		// The site's three tokens were made on Mon 7 Jan too.
		{"to=2030-01-07", []string{"pause", "token.create", "token.create", "token.create"}},
		{"from=2030-01-07&to=2030-01-08", []string{"resume", "pause", "token.create", "token.create", "token.create"}},
		{"from=2030-01-09", nil},
	} {
		_, body := do(t, c, "GET", s.URL+"/audit.csv?"+tc.query, nil)
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows[1:] {
			got = append(got, r[5])
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: actions %q, want %q", tc.query, got, tc.want)
		}
	}
}

// linkingChat is a MemChat whose chat gives links to its messages.
type linkingChat struct{ *heedtest.MemChat }

func (c linkingChat) CardLink(room string, ref bot.MessageRef) string {
	return "https://chat.example/" + room + "/" + string(ref)
}

func TestWebOccurrenceLinksToItsCard(t *testing.T) {
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	chat := linkingChat{heedtest.NewMemChat(clock.Now)}
	s := heedtest.New(t, heedtest.Options{Clock: clock, Adapters: []bot.Adapter{chat},
		Rooms: []bot.Room{{Name: "review", Adapter: chat.Name(), ID: "review", Policy: approvals.Policy{Approvers: heedtest.DefaultApprovers}}}})
	srv := httptest.NewServer(s.System.HTTP(app.HTTPOptions{}))
	t.Cleanup(srv.Close)
	site := &site{Stack: s, URL: srv.URL, tok: issueTokens(t, s)}
	p := s.Add("hello", time.Hour)
	s.Cycle()
	c := site.client(t)
	site.signIn(t, c, "tok-alice")
	ref, ok := chat.Card(p.ID)
	if !ok {
		t.Fatal("no card posted")
	}
	_, page := do(t, c, "GET", site.URL+"/occurrences/"+itoa(p.ID), nil)
	if want := `<a href="https://chat.example/review/` + ref.Ref + `" id="card-link">Open card #` + itoa(p.ID) + ` in review</a>`; !strings.Contains(page, want) {
		t.Fatalf("the occurrence page does not link to its card (%s):\n%s", want, page)
	}
	if resp, _ := do(t, c, "GET", site.URL+"/occurrences/999", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an occurrence that does not exist: %s, want 404", resp.Status)
	}
}

// A revoked token signs no one in, and a token of a person no longer in
// the configuration's people neither (the API's rule).
func TestWebSignInRefusesRevokedAndUnknownPeople(t *testing.T) {
	s := heedtest.New(t, heedtest.Options{})
	people, err := approvals.NewPeople(map[string][]string{"alice": nil})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.System.HTTP(app.HTTPOptions{People: people}))
	t.Cleanup(srv.Close)
	site := &site{Stack: s, URL: srv.URL, tok: issueTokens(t, s)}
	site.signIn(t, site.client(t), "tok-alice")
	if resp, body := site.postSignIn(t, site.client(t), "tok-dave"); resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("dave, who is not among the configured people, signed in: %s\n%s", resp.Status, body)
	}
	toks, err := s.Service.Tokens.Tokens(s.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Person == "alice" {
			if err := s.Service.Tokens.RevokeToken(s.Ctx, tk.ID, "admin", "cli"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp, body := site.postSignIn(t, site.client(t), "tok-alice"); resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("a revoked token signed in: %s\n%s", resp.Status, body)
	}
}
