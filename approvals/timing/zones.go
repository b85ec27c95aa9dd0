package timing

import (
	_ "embed"
	"fmt"
	"strings"
)

// zoneTab is the tz database's zone.tab, copied unchanged from tzdata 2025b
// (public domain; https://data.iana.org/time-zones/tzdb/zone.tab). Go's
// time/tzdata does not ship it. zone.tab rather than zone1970.tab: it names
// one country per zone and keeps the zones that are links since 1970
// (Europe/Amsterdam → NL), where zone1970.tab lists several countries per
// zone (Europe/Berlin: DE,DK,NO,SE,SJ) and drops those links.
//
//go:embed zone.tab
var zoneTab string

// zoneCountry maps each IANA zone of zone.tab to the ISO 3166-1 country it
// serves. It derives a target's default audience countries from its
// audience zones (Europe/Berlin → DE) for sensitive dates.
var zoneCountry = parseZoneTab(zoneTab)

// parseZoneTab reads zone.tab: tab-separated country code, coordinates and
// zone name, '#' comments. A comma-separated list of countries (the
// zone1970.tab form) counts as its first, the principal location's.
func parseZoneTab(tab string) map[string]string {
	m := map[string]string{}
	for i, line := range strings.Split(tab, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			panic(fmt.Sprintf("zone.tab line %d: %q has fewer than 3 fields", i+1, line))
		}
		country, _, _ := strings.Cut(f[0], ",")
		m[f[2]] = country
	}
	return m
}
