package timing

import (
	"testing"
	"time"
)

func TestLastCallAt(t *testing.T) {
	occ := utc("2027-11-09T09:00:00Z")
	tests := []struct {
		name string
		lead time.Duration
		now  string
		want string
	}{
		{"well ahead", DefaultLastCallLead, "2027-11-08T12:00:00Z", "2027-11-09T08:45:00Z"},
		{"exactly at the last call", DefaultLastCallLead, "2027-11-09T08:45:00Z", "2027-11-09T08:45:00Z"},
		{"closer than the lead: at once", DefaultLastCallLead, "2027-11-09T08:50:00Z", "2027-11-09T08:50:00Z"},
		{"already past: at once", DefaultLastCallLead, "2027-11-09T09:05:00Z", "2027-11-09T09:05:00Z"},
		{"longer lead", 2 * time.Hour, "2027-11-09T06:00:00Z", "2027-11-09T07:00:00Z"},
		{"zero lead", 0, "2027-11-09T06:00:00Z", "2027-11-09T09:00:00Z"},
		{"negative lead counts as zero", -time.Hour, "2027-11-09T06:00:00Z", "2027-11-09T09:00:00Z"},
	}
	for _, tc := range tests {
		if got := LastCallAt(occ, tc.lead, utc(tc.now)); !got.Equal(utc(tc.want)) {
			t.Errorf("%s: LastCallAt = %s, want %s", tc.name, got.Format(time.RFC3339), tc.want)
		}
	}
}

func TestRequiredApprovals(t *testing.T) {
	tests := []struct {
		base      int
		sensitive bool
		required  int
		want      int
	}{
		{1, false, 2, 1},
		{1, true, 2, 2},
		{2, true, 2, 2},
		{3, true, 2, 3}, // never lowers the bar
		{1, true, 0, 1}, // no policy set
		{2, false, 5, 2},
	}
	for _, tc := range tests {
		if got := RequiredApprovals(tc.base, tc.sensitive, tc.required); got != tc.want {
			t.Errorf("RequiredApprovals(%d, %v, %d) = %d, want %d", tc.base, tc.sensitive, tc.required, got, tc.want)
		}
	}
}
