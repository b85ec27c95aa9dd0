package timing

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/rickar/cal/v2"
)

// BuiltinDatesFile is the name errors and origins use for the shipped list.
const BuiltinDatesFile = "sensitive-dates.yaml"

//go:embed sensitive-dates.yaml
var builtinDates []byte

// Entry is one sensitive day as written in a dates file.
type Entry struct {
	// Date is "MM-DD" for every year or "YYYY-MM-DD" for that day only.
	Date string `yaml:"date"`
	// Weekday, when set, moves the day to the first such weekday (Mon..Sun)
	// on or after Date, for days such as Volkstrauertag.
	Weekday string `yaml:"weekday,omitempty"`
	// Countries are ISO 3166-1 codes, subdivisions ("DE-BY"), "EU" for the
	// member states, or "*" for every audience.
	Countries []string `yaml:"countries"`
	Name      string   `yaml:"name"`
	Source    string   `yaml:"source"`
	// Origin says where the entry was defined ("sensitive-dates.yaml:42",
	// "chat"); it is set by the loader, not read from files.
	Origin string `yaml:"-"`
}

// Day is a sensitive day an instant falls on.
type Day struct {
	// Date is the calendar date it falls on ("2027-11-09"), in the first
	// audience zone where it matched.
	Date      string
	Name      string
	Source    string
	Countries []string
	// Zones are the audience zones in which the instant is on this day.
	Zones  []string
	Origin string
}

// Sensitive is the merged list of sensitive days: the shipped file, the
// team's files, and dates added at run time. It is safe for concurrent use.
type Sensitive struct {
	mu   sync.RWMutex
	days []sensitiveDay
}

type sensitiveDay struct {
	Entry
	year       int // 0: every year
	month      time.Month
	day        int
	weekday    time.Weekday
	hasWeekday bool
}

// euMembers are the member states an "EU" entry applies to.
var euMembers = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}

var (
	yearlyDate = regexp.MustCompile(`^[0-9]{2}-[0-9]{2}$`)
	onceDate   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	countryRE  = regexp.MustCompile(`^(\*|EU|[A-Z]{2}|[A-Z]{2}-[A-Z0-9]{1,3})$`)
)

// NewSensitive returns the shipped list of sensitive days.
func NewSensitive() (*Sensitive, error) {
	s := &Sensitive{}
	if err := s.AddFile(BuiltinDatesFile, builtinDates); err != nil {
		return nil, err
	}
	return s, nil
}

// AddFile merges a dates file in the shipped format (a top-level "days:"
// list). It is all or nothing: on any error nothing is added, and the error
// lists every problem with its line ("team-dates.yaml:12: ...").
// An entry with the same date, weekday and name as a known one only adds
// its countries to it.
func (s *Sensitive) AddFile(name string, data []byte) error {
	var doc struct {
		Days []ast.Node `yaml:"days"`
	}
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.DisallowUnknownField()); err != nil {
		return yamlError(name, err)
	}
	var parsed []sensitiveDay
	var errs []error
	for _, node := range doc.Days {
		line := node.GetToken().Position.Line
		var e Entry
		if err := yaml.NodeToValue(node, &e, yaml.DisallowUnknownField()); err != nil {
			errs = append(errs, yamlError(name, err))
			continue
		}
		// Read the date from the source text: YAML would turn 0101 into 65.
		if raw, ok := rawScalar(node, "date"); ok {
			e.Date = raw
		}
		e.Origin = fmt.Sprintf("%s:%d", name, line)
		d, err := parseEntry(e, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, fieldLine(node, err, line), err))
			continue
		}
		parsed = append(parsed, d)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range parsed {
		s.merge(d)
	}
	return nil
}

// Add validates one entry and adds it; the engine calls it for dates the team
// added at run time (see AdHoc), again at every start from its own store.
func (s *Sensitive) Add(e Entry) error {
	d, err := parseEntry(e, false)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.merge(d)
	return nil
}

// AdHoc builds the entry for a date added from chat, such as
// `sensitive 2026-12-01 "product recall"`: one day (YYYY-MM-DD) or a yearly
// one (MM-DD), for every audience. The engine persists it and passes it to Add.
func AdHoc(date, name, addedBy string) (Entry, error) {
	source := "added in chat"
	if addedBy = strings.TrimSpace(addedBy); addedBy != "" {
		source += " by " + addedBy
	}
	e := Entry{
		Date:      strings.TrimSpace(date),
		Countries: []string{"*"},
		Name:      strings.TrimSpace(name),
		Source:    source,
		Origin:    "chat",
	}
	if _, err := parseEntry(e, false); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Entries lists every known sensitive day in the order it was added.
func (s *Sensitive) Entries() []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Entry, len(s.days))
	for i, d := range s.days {
		out[i] = d.Entry
		out[i].Countries = slices.Clone(d.Countries)
	}
	return out
}

// On lists the sensitive days the instant t falls on for an audience in the
// given zones and countries. A day counts if t is on that calendar date in
// ANY of the zones (with no zones, t's own location is used). Countries are
// ISO codes or subdivisions ("DE", "DE-BY"); with none, only days for every
// audience ("*") match.
func (s *Sensitive) On(t time.Time, zones []*time.Location, countries []string) []Day {
	if len(zones) == 0 {
		zones = []*time.Location{t.Location()}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Day
	found := map[int]int{} // index in s.days -> index in out
	for _, loc := range zones {
		local := t.In(loc)
		for i, d := range s.days {
			if !d.falls(local) || !d.concerns(countries) {
				continue
			}
			if j, ok := found[i]; ok {
				if !slices.Contains(out[j].Zones, loc.String()) {
					out[j].Zones = append(out[j].Zones, loc.String())
				}
				continue
			}
			found[i] = len(out)
			out = append(out, Day{
				Date:      local.Format(time.DateOnly),
				Name:      d.Name,
				Source:    d.Source,
				Countries: slices.Clone(d.Countries),
				Zones:     []string{loc.String()},
				Origin:    d.Origin,
			})
		}
	}
	return out
}

// merge adds d, or folds its countries into an entry for the same day.
// The caller holds the write lock.
func (s *Sensitive) merge(d sensitiveDay) {
	for i := range s.days {
		old := &s.days[i]
		if old.year == d.year && old.month == d.month && old.day == d.day &&
			old.hasWeekday == d.hasWeekday && old.weekday == d.weekday &&
			strings.EqualFold(old.Name, d.Name) {
			for _, c := range d.Countries {
				if !slices.Contains(old.Countries, c) {
					old.Countries = append(old.Countries, c)
				}
			}
			return
		}
	}
	s.days = append(s.days, d)
}

func (d sensitiveDay) falls(local time.Time) bool {
	y, m, day := local.Date()
	if d.year != 0 && d.year != y {
		return false
	}
	if !d.hasWeekday {
		return m == d.month && day == d.day
	}
	from := time.Date(y, d.month, d.day, 12, 0, 0, 0, time.UTC)
	moved := cal.WeekdayNFrom(from, d.weekday, 1)
	return m == moved.Month() && day == moved.Day()
}

func (d sensitiveDay) concerns(audience []string) bool {
	for _, c := range d.Countries {
		if c == "*" {
			return true
		}
		for _, a := range audience {
			if regionMatch(c, strings.ToUpper(strings.TrimSpace(a))) {
				return true
			}
		}
	}
	return false
}

// regionMatch reports whether an entry for region concerns the audience:
// the same code, a country and one of its subdivisions (either way round),
// or "EU" and a member state.
func regionMatch(region, audience string) bool {
	if region == audience {
		return true
	}
	aCountry, _, _ := strings.Cut(audience, "-")
	if region == "EU" {
		return slices.Contains(euMembers, aCountry)
	}
	rCountry, rSub, _ := strings.Cut(region, "-")
	return rCountry == aCountry && (rSub == "" || aCountry == audience)
}

// fieldError names the entry field a validation error is about, so AddFile
// can point at that field's line.
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.msg }

func parseEntry(e Entry, needSource bool) (sensitiveDay, error) {
	d := sensitiveDay{Entry: e}
	d.Name = strings.TrimSpace(e.Name)
	d.Source = strings.TrimSpace(e.Source)
	switch {
	case yearlyDate.MatchString(e.Date):
		m, _ := strconv.Atoi(e.Date[:2])
		day, _ := strconv.Atoi(e.Date[3:])
		// 2000 is a leap year, so 02-29 is accepted (and matches leap years only).
		if t := time.Date(2000, time.Month(m), day, 0, 0, 0, 0, time.UTC); t.Month() != time.Month(m) || t.Day() != day {
			return d, &fieldError{"date", fmt.Sprintf("date %q is not a calendar date; use MM-DD, e.g. 11-09", e.Date)}
		}
		d.month, d.day = time.Month(m), day
	case onceDate.MatchString(e.Date):
		t, err := time.Parse(time.DateOnly, e.Date)
		if err != nil {
			return d, &fieldError{"date", fmt.Sprintf("date %q is not a calendar date; use YYYY-MM-DD, e.g. 2026-12-01", e.Date)}
		}
		d.year, d.month, d.day = t.Year(), t.Month(), t.Day()
	case e.Date == "":
		return d, &fieldError{"date", "date is missing; use MM-DD (every year) or YYYY-MM-DD (that day only)"}
	default:
		return d, &fieldError{"date", fmt.Sprintf("date %q: use MM-DD (every year) or YYYY-MM-DD (that day only)", e.Date)}
	}
	if e.Weekday != "" {
		wd, err := parseDay(e.Weekday)
		if err != nil {
			return d, &fieldError{"weekday", "weekday: " + err.Error()}
		}
		if d.year != 0 {
			return d, &fieldError{"weekday", fmt.Sprintf("weekday %q needs a yearly date (MM-DD), not %q", e.Weekday, e.Date)}
		}
		d.weekday, d.hasWeekday = wd, true
	}
	if d.Name == "" {
		return d, &fieldError{"name", "name is missing; say which day it is, e.g. name: Kristallnacht"}
	}
	if needSource && d.Source == "" {
		return d, &fieldError{"source", fmt.Sprintf("%q has no source; name where the day is documented (the remembrance body or an encyclopedia article)", d.Name)}
	}
	if len(e.Countries) == 0 {
		return d, &fieldError{"countries", fmt.Sprintf("%q has no countries; list ISO codes such as [DE, AT], or [\"*\"] for everyone", d.Name)}
	}
	d.Countries = make([]string, 0, len(e.Countries))
	for _, c := range e.Countries {
		norm := strings.ToUpper(strings.TrimSpace(c))
		if !countryRE.MatchString(norm) {
			return d, &fieldError{"countries", fmt.Sprintf("country %q: use an ISO 3166 code (DE), a region (DE-BY), EU, or \"*\"", c)}
		}
		if !slices.Contains(d.Countries, norm) {
			d.Countries = append(d.Countries, norm)
		}
	}
	return d, nil
}

// yamlError turns a go-yaml error into "name:line:col: message".
func yamlError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		p := ye.GetToken().Position
		return fmt.Errorf("%s:%d:%d: %s", name, p.Line, p.Column, ye.GetMessage())
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fieldLine is the line of the field a validation error is about, or the
// entry's own line.
func fieldLine(entry ast.Node, err error, fallback int) int {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return fallback
	}
	if v := mappingValue(entry, fe.field); v != nil {
		return v.GetToken().Position.Line
	}
	return fallback
}

// rawScalar is the source text of a scalar field, unquoted.
func rawScalar(entry ast.Node, key string) (string, bool) {
	v := mappingValue(entry, key)
	if v == nil {
		return "", false
	}
	switch n := v.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.LiteralNode:
		return n.GetToken().Value, true
	}
	return "", false
}

func mappingValue(entry ast.Node, key string) ast.Node {
	m, ok := entry.(ast.MapNode)
	if !ok {
		return nil
	}
	for it := m.MapRange(); it.Next(); {
		if k, ok := it.Key().(ast.ScalarNode); ok && fmt.Sprint(k.GetValue()) == key {
			return it.Value()
		}
	}
	return nil
}
