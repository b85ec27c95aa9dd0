package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

var funcs = map[string]any{
	"stateClass": func(s approvals.State) string { return "state-" + strings.ReplaceAll(string(s), "_", "-") },
	"stateName":  func(s approvals.State) string { return strings.ReplaceAll(string(s), "_", " ") },
	"states":     func() []approvals.State { return approvals.States },
}

// dayFormat names a day in links and element ids.
const dayFormat = "2006-01-02"

// monthCap is how many occurrences a day of the month view lists; the
// rest are behind a link to that day's week.
const monthCap = 6

// calendarLimit bounds the occurrences one calendar page reads.
const calendarLimit = 50000

type calItem struct {
	ID      int64
	Time    string
	State   approvals.State
	Text    string
	Targets string
}

type calDay struct {
	Date    string // 2006-01-02
	Label   string // "Mon 7"
	Day     int
	InRange bool // in the month shown (always, in a week)
	Today   bool
	Items   []calItem
	More    int
}

type calendarData struct {
	View       string // week or month
	Title      string
	Weeks      [][]calDay
	Prev, Next string // dates to link to
	Today      string
	Date       string
	Count      int
	Truncated  bool
}

// calendarRange is the range a calendar page shows: a month, or the week
// (Monday first) around date, in loc.
func calendarRange(view string, date time.Time, loc *time.Location) (from, to, gridFrom, gridTo time.Time) {
	y, m, d := date.Date()
	if view == "week" {
		day := time.Date(y, m, d, 0, 0, 0, 0, loc)
		wd := (int(day.Weekday()) + 6) % 7 // Monday 0
		from = time.Date(y, m, d-wd, 0, 0, 0, 0, loc)
		to = time.Date(y, m, d-wd+7, 0, 0, 0, 0, loc)
		return from, to, from, to
	}
	from = time.Date(y, m, 1, 0, 0, 0, 0, loc)
	to = time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	wd := (int(from.Weekday()) + 6) % 7
	gridFrom = time.Date(y, m, 1-wd, 0, 0, 0, 0, loc)
	last := to.AddDate(0, 0, -1)
	wl := (int(last.Weekday()) + 6) % 7
	ly, lm, ld := last.Date()
	gridTo = time.Date(ly, lm, ld+7-wl, 0, 0, 0, 0, loc)
	return from, to, gridFrom, gridTo
}

func (v *View) calendar(w http.ResponseWriter, r *http.Request, s session) {
	loc := s.zone
	q := r.URL.Query()
	view := q.Get("view")
	if view != "week" {
		view = "month"
	}
	now := v.d.Now().In(loc)
	date := now
	if ds := q.Get("date"); ds != "" {
		d, err := time.ParseInLocation(dayFormat, ds, loc)
		if err != nil {
			v.message(w, r, s, http.StatusBadRequest, "Not a date", fmt.Sprintf("%q is not a date: give one as 2030-01-31.", ds))
			return
		}
		date = d
	}
	from, to, gridFrom, gridTo := calendarRange(view, date, loc)
	occs, err := v.d.Calendar.OccurrencesBetween(r.Context(), from, to, calendarLimit)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	type dayKey struct{ y, yday int }
	byDay := map[dayKey][]approvals.Summary{}
	for _, o := range occs {
		t := o.At.In(loc)
		k := dayKey{t.Year(), t.YearDay()}
		byDay[k] = append(byDay[k], o)
	}
	data := calendarData{View: view, Today: now.Format(dayFormat), Date: date.Format(dayFormat), Count: len(occs), Truncated: len(occs) >= calendarLimit}
	if view == "week" {
		data.Title = fmt.Sprintf("Week of %s", from.Format("Mon 2 Jan 2006"))
		data.Prev, data.Next = from.AddDate(0, 0, -7).Format(dayFormat), from.AddDate(0, 0, 7).Format(dayFormat)
	} else {
		data.Title = from.Format("January 2006")
		data.Prev, data.Next = from.AddDate(0, -1, 0).Format(dayFormat), from.AddDate(0, 1, 0).Format(dayFormat)
	}
	today := now.Format(dayFormat)
	var week []calDay
	gy, gm, gd := gridFrom.Date()
	for i := 0; ; i++ {
		day := time.Date(gy, gm, gd+i, 0, 0, 0, 0, loc)
		if !day.Before(gridTo) {
			break
		}
		k := day.Format(dayFormat)
		cd := calDay{Date: k, Label: day.Format("Mon 2"), Day: day.Day(), InRange: !day.Before(from) && day.Before(to), Today: k == today}
		if cd.InRange {
			items := byDay[dayKey{day.Year(), day.YearDay()}]
			n := len(items)
			if view == "month" && n > monthCap {
				cd.More, items = n-monthCap, items[:monthCap]
			}
			cd.Items = make([]calItem, len(items))
			for j, o := range items {
				cd.Items[j] = calItem{ID: o.ID, Time: o.At.In(loc).Format("15:04"), State: o.State, Text: approvals.Clip(o.Text, 60), Targets: strings.Join(o.Targets, ", ")}
			}
		}
		week = append(week, cd)
		if len(week) == 7 {
			data.Weeks = append(data.Weeks, week)
			week = nil
		}
	}
	v.render(w, r, http.StatusOK, "calendar", s, data)
}

type queueItem struct {
	ID       int64
	When     string
	Relative string
	State    approvals.State
	Text     string
	Targets  string
	Note     string
}

func (v *View) queue(w http.ResponseWriter, r *http.Request, s session) {
	q, err := v.d.Reviews.Queue(r.Context(), 200)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	now := v.d.Now()
	items := make([]queueItem, len(q))
	for i, o := range q {
		items[i] = queueItem{ID: o.ID, When: o.At.In(s.zone).Format("Mon 2 Jan 2006 15:04 MST"), Relative: bot.Relative(o.At, now),
			State: o.State, Text: approvals.Clip(o.Text, 140), Targets: strings.Join(o.Targets, ", "), Note: o.Note}
	}
	v.render(w, r, http.StatusOK, "queue", s, items)
}

type decisionRow struct {
	Kind, User, Emoji, When string
}

type deliveryRow struct {
	Target, State, URL, Error string
	Attempts                  int
}

type imageRow struct {
	URL, Alt, Line string
	NoAlt          bool
}

type auditRow struct {
	ID                                                 int64
	When, Actor, Person, Action, Target, Place, Detail string
	Occurrence                                         int64
}

type occurrenceData struct {
	ID         int64
	State      approvals.State
	When       string
	TeamWhen   string
	Relative   string
	Card       bot.Card
	Status     string
	Images     []imageRow
	Decisions  []decisionRow
	Ignored    []bot.Ignored
	Deliveries []deliveryRow
	Place      CardPlace
	History    []auditRow
}

func (v *View) occurrence(w http.ResponseWriter, r *http.Request, s session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		v.message(w, r, s, http.StatusNotFound, "Not found", "There is no occurrence "+r.PathValue("id")+".")
		return
	}
	ctx := r.Context()
	o, err := v.d.Reviews.Occurrence(ctx, id)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	card, err := v.d.Preview(ctx, o)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	place, err := v.d.Card(ctx, o)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	hist, err := v.d.AuditLog.Audit(ctx, 0, id, 500)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	loc := s.zone
	d := occurrenceData{ID: o.ID, State: o.State, When: o.At.In(loc).Format("Mon 2 Jan 2006 15:04 MST"),
		TeamWhen: o.At.In(v.d.Zone).Format("Mon 2 Jan 2006 15:04 MST"), Relative: bot.Relative(o.At, v.d.Now()),
		Card: card, Status: card.Status(), Place: place, Ignored: card.Ignored}
	for i, im := range card.Images {
		d.Images = append(d.Images, imageRow{URL: fmt.Sprintf("/occurrences/%d/images/%d", o.ID, i), Alt: im.Alt, Line: im.Line(), NoAlt: strings.TrimSpace(im.Alt) == ""})
	}
	for _, a := range card.Approvals {
		d.Decisions = append(d.Decisions, decisionRow{Kind: "approved", User: a.User, Emoji: a.Emoji, When: a.At.In(loc).Format("Mon 2 Jan 15:04 MST")})
	}
	for _, a := range card.Rejections {
		d.Decisions = append(d.Decisions, decisionRow{Kind: "rejected", User: a.User, Emoji: a.Emoji, When: a.At.In(loc).Format("Mon 2 Jan 15:04 MST")})
	}
	for _, dl := range o.Deliveries {
		d.Deliveries = append(d.Deliveries, deliveryRow{Target: dl.Target, State: string(dl.State), URL: safeURL(dl.URL), Error: dl.Error, Attempts: dl.Attempts})
	}
	for _, e := range hist {
		d.History = append(d.History, toAuditRow(e, loc))
	}
	v.render(w, r, http.StatusOK, "occurrence", s, d)
}

// safeURL keeps only web links: a URL a network answered with is shown as
// a link only when it is http(s).
func safeURL(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return u
	}
	return ""
}

func toAuditRow(e approvals.AuditEntry, loc *time.Location) auditRow {
	return auditRow{ID: e.ID, When: e.At.In(loc).Format("2006-01-02 15:04:05 MST"), Actor: e.Actor, Person: e.Person, Action: e.Action,
		Target: e.Target, Place: e.Place, Detail: e.Detail, Occurrence: e.Occurrence}
}

// image serves one of an occurrence's images from the media store.
func (v *View) image(w http.ResponseWriter, r *http.Request, s session) {
	id, err1 := strconv.ParseInt(r.PathValue("id"), 10, 64)
	n, err2 := strconv.Atoi(r.PathValue("n"))
	if err1 != nil || err2 != nil || v.d.Image == nil {
		http.NotFound(w, r)
		return
	}
	o, err := v.d.Reviews.Occurrence(r.Context(), id)
	if err != nil || n < 0 || n >= len(o.Post.Media) {
		http.NotFound(w, r)
		return
	}
	m := o.Post.Media[n]
	if m.SHA256 == "" || !strings.HasPrefix(m.Type, "image/") {
		http.NotFound(w, r)
		return
	}
	b, err := v.d.Image(m.SHA256)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", m.Type)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(b)
}

type pauseRow struct {
	ID                    int64
	Scope, Target, By, At string
	Reason                string
}

type pausesData struct {
	Pauses    []pauseRow
	MayResume bool
	Why       string
	Receipt   string
	Error     string
	Reason    string
}

func (v *View) pausesData(r *http.Request, s session) (pausesData, error) {
	ps, err := v.d.Pauses.ActivePauses(r.Context())
	if err != nil {
		return pausesData{}, err
	}
	var d pausesData
	d.MayResume, d.Why = v.d.MayResume(r.Context(), s.Person)
	for _, p := range ps {
		scope := "all publishing"
		if p.Target != "" {
			scope = "publishing to " + p.Target
		}
		d.Pauses = append(d.Pauses, pauseRow{ID: p.ID, Scope: scope, Target: p.Target, By: p.By, At: p.At.In(s.zone).Format("Mon 2 Jan 2006 15:04 MST"), Reason: p.Reason})
	}
	return d, nil
}

func (v *View) pausesPage(w http.ResponseWriter, r *http.Request, s session) {
	d, err := v.pausesData(r, s)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	v.render(w, r, http.StatusOK, "pauses", s, d)
}

// pause is "Pause everything": anyone signed in may, with a reason.
func (v *View) pause(w http.ResponseWriter, r *http.Request, s session) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		d, err := v.pausesData(r, s)
		if err != nil {
			v.fail(w, r, s, err)
			return
		}
		d.Error = "Give a reason: the review rooms are told who paused and why. Nothing was paused."
		v.render(w, r, http.StatusBadRequest, "pauses", s, d)
		return
	}
	rc, err := v.d.Pauses.PauseAll(acting(r.Context(), s.Person), s.Person, "", reason, Place)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	v.d.Log.Info("paused from the web view", "person", s.Person, "pause", rc.Pause.ID)
	d, err := v.pausesData(r, s)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	d.Receipt = bot.PauseReceipt(rc)
	v.render(w, r, http.StatusOK, "pauses", s, d)
}

// resume lifts a pause (every pause when target is empty): approvers
// only, as in chat.
func (v *View) resume(w http.ResponseWriter, r *http.Request, s session) {
	target := strings.TrimSpace(r.PostFormValue("target"))
	ctx := acting(r.Context(), s.Person)
	if ok, why := v.d.MayResume(r.Context(), s.Person); !ok {
		_ = v.d.AuditLog.Record(ctx, approvals.AuditEntry{Actor: s.Person, Action: "resume.refused", Target: target, Place: Place, Detail: why})
		v.message(w, r, s, http.StatusForbidden, "Not resumed", fmt.Sprintf("%s cannot resume: %s. Only approvers can resume; anyone can pause.", s.Person, why))
		return
	}
	rc, err := v.d.Pauses.Resume(ctx, s.Person, target, Place)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	if v.d.Wake != nil {
		v.d.Wake()
	}
	d, err := v.pausesData(r, s)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	d.Receipt = bot.ResumeReceipt(s.Person, rc)
	v.render(w, r, http.StatusOK, "pauses", s, d)
}

type auditData struct {
	Person, Kind, From, To string
	Rows                   []auditRow
	Error                  string
	CSV                    string
}

// auditQuery reads the audit filters; from and to are days in loc, to
// included.
func auditQuery(r *http.Request, loc *time.Location) (approvals.AuditQuery, auditData, error) {
	q := r.URL.Query()
	d := auditData{Person: strings.TrimSpace(q.Get("person")), Kind: strings.TrimSpace(q.Get("kind")), From: q.Get("from"), To: q.Get("to")}
	aq := approvals.AuditQuery{Person: d.Person, Kind: d.Kind}
	if d.From != "" {
		t, err := time.ParseInLocation(dayFormat, d.From, loc)
		if err != nil {
			return aq, d, fmt.Errorf("from: %q is not a date; give one as 2030-01-31", d.From)
		}
		aq.From = t
	}
	if d.To != "" {
		t, err := time.ParseInLocation(dayFormat, d.To, loc)
		if err != nil {
			return aq, d, fmt.Errorf("to: %q is not a date; give one as 2030-01-31", d.To)
		}
		aq.To = t.AddDate(0, 0, 1)
	}
	return aq, d, nil
}

func (v *View) audit(w http.ResponseWriter, r *http.Request, s session) {
	aq, d, err := auditQuery(r, s.zone)
	if err != nil {
		d.Error = err.Error()
		v.render(w, r, http.StatusBadRequest, "audit", s, d)
		return
	}
	aq.Limit = 500
	es, err := v.d.Audit.SearchAudit(r.Context(), aq)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	for _, e := range es {
		d.Rows = append(d.Rows, toAuditRow(e, s.zone))
	}
	d.CSV = "/audit.csv?" + r.URL.RawQuery
	v.render(w, r, http.StatusOK, "audit", s, d)
}

// csvCell keeps a spreadsheet from reading a cell as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (v *View) auditCSV(w http.ResponseWriter, r *http.Request, s session) {
	aq, _, err := auditQuery(r, s.zone)
	if err != nil {
		v.message(w, r, s, http.StatusBadRequest, "Not exported", err.Error())
		return
	}
	aq.Limit = 1_000_000
	es, err := v.d.Audit.SearchAudit(r.Context(), aq)
	if err != nil {
		v.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="heed-audit.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "at", "actor", "identity", "person", "action", "post", "occurrence", "target", "place", "detail"})
	id := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	for _, e := range es {
		_ = cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), csvCell(e.Actor), csvCell(e.Identity), csvCell(e.Person),
			csvCell(e.Action), id(e.PostID), id(e.Occurrence), csvCell(e.Target), csvCell(e.Place), csvCell(e.Detail)})
	}
	cw.Flush()
}
