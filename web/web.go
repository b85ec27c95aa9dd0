// Package web is heed's web view: a calendar and the queue of
// occurrences, one occurrence's exact previews, decisions and deliveries,
// the pauses (with a button to pause everything) and the audit log. It is
// rendered on the server with html/template from embedded templates, with
// one tiny script that tells the server the viewer's time zone, and is
// mounted on heed's one HTTP listener.
//
// Approving stays in chat on purpose: a decision is a reaction on the
// card, where the team sees it. The web view shows where the card is.
//
// Everything but the sign-in page needs a session: a person signs in with
// their API token (a TokenVerifier says whose it is), which is exchanged
// for a session cookie. Sessions are kept server side by the hash of
// their secret; every form carries the session's CSRF token.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// TokenVerifier says whose a per-person API token is.
type TokenVerifier interface {
	Verify(ctx context.Context, secret string) (person string, err error)
}

// Sessions keeps sign-in sessions by the hash of their secret.
type Sessions interface {
	CreateSession(ctx context.Context, idHash, person string, created, expires time.Time) error
	Session(ctx context.Context, idHash string) (person string, expires time.Time, ok bool, err error)
	DeleteSession(ctx context.Context, idHash string) error
}

// Calendar lists the occurrences in a range of time in one query.
type Calendar interface {
	OccurrencesBetween(ctx context.Context, from, to time.Time, limit int) ([]approvals.Summary, error)
}

// AuditSearch reads the audit log with filters.
type AuditSearch interface {
	SearchAudit(ctx context.Context, q approvals.AuditQuery) ([]approvals.AuditEntry, error)
}

// CardPlace says where an occurrence's review card is.
type CardPlace struct {
	Room  string // the review room's name
	Chat  string // the chat it is in
	Link  string // the card's permalink, when the chat gives one
	Found bool   // false: no card has been posted yet
}

// Deps are what the web view reads and calls.
type Deps struct {
	Verifier TokenVerifier
	Sessions Sessions
	Calendar Calendar
	Audit    AuditSearch
	Reviews  approvals.ReviewService
	Pauses   approvals.PauseService
	AuditLog approvals.AuditService
	// Preview renders an occurrence as its card does in chat.
	Preview func(ctx context.Context, v approvals.View) (bot.Card, error)
	// Card says where an occurrence's card is.
	Card func(ctx context.Context, v approvals.View) (CardPlace, error)
	// MayResume says whether a person may resume (an approver in a review
	// room, as in chat), and if not, why.
	MayResume func(ctx context.Context, person string) (bool, string)
	// Image reads an image from the media store by its SHA-256.
	Image func(sum string) ([]byte, error)
	// Wake is called after a resume, so that the dispatcher looks again.
	Wake func()
	Zone *time.Location // the team's zone (default UTC)
	Now  func() time.Time
	// SessionTTL is how long a session lasts (default 12h).
	SessionTTL time.Duration
	Log        *slog.Logger
}

// Place is what the audit log records as where a web action happened.
const Place = "web"

// sessionCookie and tzCookie are the cookies the web view sets.
const (
	sessionCookie = "heed_session"
	signinCookie  = "heed_signin" // the sign-in form's check
	tzCookie      = "tz"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed templates, one per page, each with the layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"signin", "calendar", "queue", "occurrence", "pauses", "audit", "message"} {
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

// View is the web view's handler. Mount it at "/" on the listener: the
// listener's own paths (/healthz, /metrics, a chat's endpoint) are more
// specific and keep answering.
type View struct {
	d     Deps
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New builds the web view.
func New(d Deps) *View {
	if d.Zone == nil {
		d.Zone = time.UTC
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = 12 * time.Hour
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	v := &View{d: d, mux: http.NewServeMux(), pages: pages}
	static, _ := fs.Sub(staticFS, "static")
	v.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	v.mux.HandleFunc("GET /signin", v.signinPage)
	v.mux.HandleFunc("POST /signin", v.signin)
	v.mux.HandleFunc("POST /signout", v.authed(v.signout))
	v.mux.HandleFunc("GET /{$}", v.authed(func(w http.ResponseWriter, r *http.Request, s session) {
		http.Redirect(w, r, "/calendar", http.StatusSeeOther)
	}))
	v.mux.HandleFunc("GET /calendar", v.authed(v.calendar))
	v.mux.HandleFunc("GET /queue", v.authed(v.queue))
	v.mux.HandleFunc("GET /occurrences/{id}", v.authed(v.occurrence))
	v.mux.HandleFunc("GET /occurrences/{id}/images/{n}", v.authed(v.image))
	v.mux.HandleFunc("GET /pauses", v.authed(v.pausesPage))
	v.mux.HandleFunc("POST /pauses", v.authed(v.pause))
	v.mux.HandleFunc("POST /pauses/resume", v.authed(v.resume))
	v.mux.HandleFunc("GET /audit", v.authed(v.audit))
	v.mux.HandleFunc("GET /audit.csv", v.authed(v.auditCSV))
	return v
}

// ServeHTTP sets the security headers every answer carries and serves.
func (v *View) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	v.mux.ServeHTTP(w, r)
}

// session is a signed-in person's session.
type session struct {
	Person string
	CSRF   string
	zone   *time.Location
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte("heed web session\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// csrfFor is the session's CSRF token: derived from its secret, which only
// the session's cookie carries, so it is never stored and differs per
// session.
func csrfFor(secret string) string {
	sum := sha256.Sum256([]byte("heed web csrf\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// secure says whether the request came over TLS, directly or through a
// proxy that says so.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (v *View) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// current returns the request's live session, if any.
func (v *View) current(r *http.Request) (session, string, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return session{}, "", false, nil
	}
	person, expires, ok, err := v.d.Sessions.Session(r.Context(), hashSecret(c.Value))
	if err != nil || !ok {
		return session{}, "", false, err
	}
	if !v.d.Now().Before(expires) {
		return session{}, "", false, nil
	}
	return session{Person: person, CSRF: csrfFor(c.Value)}, c.Value, true, nil
}

// authed serves h to a signed-in person only: others go to the sign-in
// page. Every POST must carry the session's CSRF token.
func (v *View) authed(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _, ok, err := v.current(r)
		if err != nil {
			v.fail(w, r, session{}, err)
			return
		}
		if !ok {
			if r.Method != http.MethodGet {
				v.message(w, r, session{}, http.StatusUnauthorized, "Signed out", "Your session has ended: sign in again, then try once more.")
				return
			}
			http.Redirect(w, r, "/signin?next="+template.URLQueryEscaper(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !validCSRF(r, s.CSRF) {
			v.message(w, r, s, http.StatusForbidden, "Refused", "This form did not carry this session's check (CSRF token), so nothing was done. Reload the page and try again.")
			return
		}
		s.zone = v.viewerZone(w, r)
		h(w, r, s)
	}
}

// validCSRF checks the form's CSRF token against the session's.
func validCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// viewerZone is the viewer's time zone: the query's tz, else the cookie
// the page's script set from the browser, else the team's zone. A zone
// the server does not know is ignored.
func (v *View) viewerZone(w http.ResponseWriter, r *http.Request) *time.Location {
	fromCookie, _ := url.QueryUnescape(cookieValue(r, tzCookie)) // the script encodes it
	for _, name := range []string{r.URL.Query().Get("tz"), fromCookie} {
		if loc, ok := loadZone(name); ok {
			return loc
		}
	}
	return v.d.Zone
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// loadZone loads an IANA zone name, refusing empty and local names.
func loadZone(name string) (*time.Location, bool) {
	if name == "" || name == "Local" || len(name) > 64 || strings.Contains(name, "..") {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	return loc, true
}

func (v *View) signinPage(w http.ResponseWriter, r *http.Request) {
	v.signinForm(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
}

// signinForm renders the sign-in form with a fresh check of its own: the
// form's CSRF token, also set in a cookie only the sign-in path gets, so
// that another site cannot sign a browser in (as someone else).
func (v *View) signinForm(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	check, err := newSecret()
	if err != nil {
		v.fail(w, r, session{}, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: check, Path: "/signin", MaxAge: 3600,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	v.render(w, r, status, "signin", session{CSRF: check}, map[string]any{"Next": next, "Error": msg})
}

// newSecret is 32 random bytes, base64url.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/calendar"
	}
	return next
}

func (v *View) signin(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	if !validCSRF(r, cookieValue(r, signinCookie)) {
		v.signinForm(w, r, http.StatusForbidden, next, "This sign-in form did not carry its check (CSRF token), so nobody was signed in: sign in again here.")
		return
	}
	if token == "" {
		v.signinForm(w, r, http.StatusBadRequest, next, "Paste your API token to sign in.")
		return
	}
	person, err := v.d.Verifier.Verify(r.Context(), token)
	if err != nil || person == "" {
		// The token is never logged, nor said back.
		v.d.Log.Info("web sign-in refused", "remote", r.RemoteAddr)
		v.signinForm(w, r, http.StatusUnauthorized, next, "That token was not accepted: it is unknown, revoked or expired. Ask for a new one (heed's API tokens), then try again.")
		return
	}
	secret, err := newSecret()
	if err != nil {
		v.fail(w, r, session{}, err)
		return
	}
	now := v.d.Now()
	if err := v.d.Sessions.CreateSession(r.Context(), hashSecret(secret), person, now, now.Add(v.d.SessionTTL)); err != nil {
		v.fail(w, r, session{}, err)
		return
	}
	v.setSessionCookie(w, r, secret, int(v.d.SessionTTL/time.Second))
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Path: "/signin", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	v.d.Log.Info("web sign-in", "person", person)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (v *View) signout(w http.ResponseWriter, r *http.Request, s session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := v.d.Sessions.DeleteSession(r.Context(), hashSecret(c.Value)); err != nil {
			v.fail(w, r, s, err)
			return
		}
	}
	v.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// acting is the context of a person's action from the web view, for the
// audit log.
func acting(ctx context.Context, person string) context.Context {
	return approvals.WithActing(ctx, approvals.Acting{Name: person, Identity: person, Person: person})
}

func (v *View) fail(w http.ResponseWriter, r *http.Request, s session, err error) {
	msg := approvals.ErrorMessage(err)
	status := http.StatusInternalServerError
	switch approvals.ErrorCode(err) {
	case approvals.ENOTFOUND:
		status = http.StatusNotFound
	case approvals.EINVALID, approvals.ECONFLICT:
		status = http.StatusBadRequest
	default:
		v.d.Log.Error("web view", "path", r.URL.Path, "err", err)
	}
	v.message(w, r, s, status, "Not done", msg)
}

func (v *View) message(w http.ResponseWriter, r *http.Request, s session, status int, title, text string) {
	v.render(w, r, status, "message", s, map[string]any{"Title": title, "Text": text})
}

// page is what every template gets.
type page struct {
	Title   string
	Session session
	Zone    string
	Paused  []approvals.Pause
	Data    any
}

func (v *View) render(w http.ResponseWriter, r *http.Request, status int, name string, s session, data any) {
	p := page{Session: s, Data: data, Zone: v.d.Zone.String()}
	if s.zone != nil {
		p.Zone = s.zone.String()
	}
	if s.Person != "" {
		if pauses, err := v.d.Pauses.ActivePauses(r.Context()); err == nil {
			p.Paused = pauses
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := v.pages[name].Execute(w, p); err != nil {
		v.d.Log.Error("web view: render", "page", name, "err", err)
	}
}
