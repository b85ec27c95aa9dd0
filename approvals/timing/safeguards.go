package timing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Safeguards are the timing safeguards a team configures: the last call
// before an approved occurrence goes out, staffed hours and the on-duty
// check per review room, sensitive dates per target audience, and the news
// tripwire. The zero value (and a nil *Safeguards) turns every one off.
// It is read concurrently and must not change after start, except through
// Sensitive, which is safe for concurrent use.
type Safeguards struct {
	// Rooms are the review rooms' settings, by room name; posts that name
	// no room (or an unknown one) use DefaultRoom's.
	Rooms       map[string]RoomSafeguards
	DefaultRoom string
	// Zone is the team's zone: a default audience zone, and the zone of
	// messages.
	Zone *time.Location
	// Sensitive is the list of sensitive days; nil turns the check off.
	Sensitive *Sensitive
	// Audiences are the targets' audiences, by target name.
	Audiences map[string]Audience
	// Countries are the team's default audience countries. When empty, a
	// target's countries are derived from its audience zones
	// (Europe/Berlin → DE).
	Countries []string
	Tripwire  TripwireSettings
}

// RoomSafeguards are one review room's timing settings.
type RoomSafeguards struct {
	// LastCall is how long before an approved occurrence its approvers are
	// reminded in the card's thread; 0 sends none.
	LastCall time.Duration
	// Hours are the room's staffed hours; nil means always staffed.
	Hours *Hours
	// OnDuty, when set, holds an occurrence unless an approver was seen in
	// the room within this long before its time.
	OnDuty time.Duration
	// SensitiveRequired is how many approvals an occurrence on a sensitive
	// day needs (0 or less: the room's usual number).
	SensitiveRequired int
	// Zone is the room's zone for messages; nil: the team's.
	Zone *time.Location
	// ApproveBy is how long before its time an occurrence should be
	// approved: one still in review then gets a reminder in its card's
	// thread; 0 sends none.
	ApproveBy time.Duration
	// RemindEvery repeats the reminder until the occurrence is approved,
	// rejected or missed; 0 sends one.
	RemindEvery time.Duration
	// EscalateTo are mentioned at the last reminder before the time: chat
	// user ids, people, a Slack user group id (S…), or a Matrix power
	// level (digits: everyone the room's power levels put at or above it).
	EscalateTo []string
}

// Audience is who reads a target: the zones whose calendar dates count for
// sensitive days, and the countries whose days count. Empty zones mean the
// team's zone and the post's own; empty countries mean the team's, or
// those of the zones.
type Audience struct {
	Zones     []*time.Location
	Countries []string
}

// TripwireSettings say what is done with a news tripwire alert.
type TripwireSettings struct {
	// AutoPause pauses all publishing on a match.
	AutoPause bool
	// Window is how far ahead the alert lists due occurrences (default 6h).
	Window time.Duration
}

// Room returns the settings of a review room by name.
func (g *Safeguards) Room(name string) RoomSafeguards {
	if g == nil {
		return RoomSafeguards{}
	}
	if r, ok := g.Rooms[name]; ok {
		return r
	}
	return g.Rooms[g.DefaultRoom]
}

func (g *Safeguards) roomName(name string) string {
	if _, ok := g.Rooms[name]; ok {
		return name
	}
	return g.DefaultRoom
}

// RoomZone is the zone of a room's messages: the room's own, else the
// team's, else UTC.
func (g *Safeguards) RoomZone(r RoomSafeguards) *time.Location {
	switch {
	case r.Zone != nil:
		return r.Zone
	case g != nil && g.Zone != nil:
		return g.Zone
	}
	return time.UTC
}

// AudienceOf returns a target's audience for a post scheduled in zone tz,
// with the defaults filled in.
func (g *Safeguards) AudienceOf(target, tz string) Audience {
	a := g.Audiences[target]
	zones := slices.Clone(a.Zones)
	if len(zones) == 0 {
		if g.Zone != nil {
			zones = append(zones, g.Zone)
		}
		if loc, err := time.LoadLocation(tz); err == nil && tz != "" && !slices.ContainsFunc(zones, func(z *time.Location) bool { return z.String() == loc.String() }) {
			zones = append(zones, loc)
		}
	}
	countries := slices.Clone(a.Countries)
	if len(countries) == 0 {
		countries = slices.Clone(g.Countries)
	}
	if len(countries) == 0 {
		for _, z := range zones {
			if c, ok := zoneCountry[z.String()]; ok && !slices.Contains(countries, c) {
				countries = append(countries, c)
			}
		}
	}
	return Audience{Zones: zones, Countries: countries}
}

// Check is what the safeguards say about one occurrence's time, for the
// store's Timing hook. It answers from memory.
func (g *Safeguards) Check(v approvals.View) approvals.TimingCheck {
	var tc approvals.TimingCheck
	if g == nil {
		return tc
	}
	room := g.roomName(v.Post.Room)
	rs := g.Rooms[room]
	if rs.Hours != nil {
		if ok, why := rs.Hours.Staffed(v.At); !ok {
			tc.OffHours = why
		}
	}
	if rs.OnDuty > 0 {
		tc.OnDuty, tc.DutyRoom = rs.OnDuty, room
	}
	if g.Sensitive == nil {
		return tc
	}
	type hit struct {
		day     Day
		targets []string
	}
	var hits []*hit
	for _, pl := range v.Payloads {
		a := g.AudienceOf(pl.Target, v.Post.Schedule.TZ)
		for _, d := range g.Sensitive.On(v.At, a.Zones, a.Countries) {
			i := slices.IndexFunc(hits, func(h *hit) bool { return h.day.Name == d.Name })
			if i < 0 {
				hits = append(hits, &hit{day: d})
				i = len(hits) - 1
			}
			hits[i].targets = append(hits[i].targets, pl.Target)
		}
	}
	for _, h := range hits {
		where := "everywhere"
		if !slices.Contains(h.day.Countries, "*") {
			where = strings.Join(h.day.Countries, ", ")
		}
		// Name the zones of the day's own countries where there are such
		// (Europe/Berlin for a German day), not every audience zone.
		zones := slices.DeleteFunc(slices.Clone(h.day.Zones), func(z string) bool { return !slices.Contains(h.day.Countries, zoneCountry[z]) })
		if len(zones) == 0 {
			zones = h.day.Zones
		}
		w := fmt.Sprintf("falls on a sensitive day: %s (%s, %s; in %s for %s). Read it again with that day in mind",
			h.day.Name, h.day.Date, where, strings.Join(zones, ", "), strings.Join(h.targets, ", "))
		if rs.SensitiveRequired > 1 {
			w += fmt.Sprintf("; it needs %d approvals", rs.SensitiveRequired)
		}
		tc.Warnings = append(tc.Warnings, w)
		tc.SensitiveDays = append(tc.SensitiveDays, h.day.Name)
	}
	if len(hits) > 0 {
		tc.Required = max(rs.SensitiveRequired, 0)
	}
	return tc
}

// AddAdHoc adds the sensitive days the team added from chat, as stored.
// It does nothing when sensitive days are not checked.
func (g *Safeguards) AddAdHoc(dates []approvals.SensitiveDate) error {
	if g == nil || g.Sensitive == nil {
		return nil
	}
	for _, d := range dates {
		e, err := AdHoc(d.Date, d.Name, d.AddedBy)
		if err != nil {
			return fmt.Errorf("sensitive date %d (%s) in the database: %w", d.ID, d.Date, err)
		}
		if err := g.Sensitive.Add(e); err != nil {
			return err
		}
	}
	return nil
}
