package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
)

// BenchmarkCalendar renders the calendar of a month holding 10,000
// occurrences (and a week of it), signed in, through the whole handler:
// the session, the pauses and the month's occurrences are one query each.
func BenchmarkCalendar(b *testing.B) {
	s := heedtest.New(b, heedtest.Options{CountSQL: true})
	month := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	states := []approvals.State{approvals.StateInReview, approvals.StateApproved, approvals.StatePublished, approvals.StateScheduled, approvals.StateHeld}
	const n = 10000
	step := 31 * 24 * time.Hour / n
	if _, err := heedtest.BulkInsert(s.Ctx, s.Store, s.Clock.Now(), n, func(i int, r *heedtest.BulkRow) {
		r.Text = "A post for the calendar, number " + itoa(int64(i)) + ", with a little more text than fits a cell."
		r.At = month.Add(time.Duration(i) * step).Truncate(time.Second)
		r.State = states[i%len(states)]
	}); err != nil {
		b.Fatal(err)
	}
	h := s.System.HTTP(app.HTTPOptions{})
	tok := issueTokens(b, s)
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "/signin", nil))
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if m == nil {
		b.Fatalf("no CSRF token on the sign-in form:\n%s", page.Body)
	}
	form := httptest.NewRequest("POST", "/signin", strings.NewReader(url.Values{"token": {tok("tok-alice")}, "csrf": {m[1]}}.Encode()))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range page.Result().Cookies() {
		form.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, form)
	var cookies []*http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "heed_session" {
			cookies = append(cookies, c)
		}
	}
	if len(cookies) == 0 {
		b.Fatalf("sign in: %d %s", rec.Code, rec.Body)
	}
	for _, bc := range []struct{ name, path string }{
		{"month", "/calendar?view=month&date=2030-01-15&tz=UTC"},
		{"week", "/calendar?view=week&date=2030-01-15&tz=UTC"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var statements, size int64
			for b.Loop() {
				req := httptest.NewRequest("GET", bc.path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				w := httptest.NewRecorder()
				before := heedtest.SQLCount.Now()
				h.ServeHTTP(w, req)
				statements += heedtest.SQLCount.Now().Sub(before).Statements
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d\n%s", bc.path, w.Code, w.Body)
				}
				size = int64(w.Body.Len())
			}
			b.ReportMetric(float64(statements)/float64(b.N), "statements/page")
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
