package timing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rickar/cal/v2"
	calar "github.com/rickar/cal/v2/ar"
	calat "github.com/rickar/cal/v2/at"
	calau "github.com/rickar/cal/v2/au"
	calbe "github.com/rickar/cal/v2/be"
	calbg "github.com/rickar/cal/v2/bg"
	calbr "github.com/rickar/cal/v2/br"
	calca "github.com/rickar/cal/v2/ca"
	calch "github.com/rickar/cal/v2/ch"
	calcy "github.com/rickar/cal/v2/cy"
	calcz "github.com/rickar/cal/v2/cz"
	calde "github.com/rickar/cal/v2/de"
	caldk "github.com/rickar/cal/v2/dk"
	calee "github.com/rickar/cal/v2/ee"
	cales "github.com/rickar/cal/v2/es"
	calfi "github.com/rickar/cal/v2/fi"
	calfr "github.com/rickar/cal/v2/fr"
	calgb "github.com/rickar/cal/v2/gb"
	calgr "github.com/rickar/cal/v2/gr"
	calhr "github.com/rickar/cal/v2/hr"
	calhu "github.com/rickar/cal/v2/hu"
	calie "github.com/rickar/cal/v2/ie"
	calis "github.com/rickar/cal/v2/is"
	calit "github.com/rickar/cal/v2/it"
	caljp "github.com/rickar/cal/v2/jp"
	calke "github.com/rickar/cal/v2/ke"
	callt "github.com/rickar/cal/v2/lt"
	callu "github.com/rickar/cal/v2/lu"
	callv "github.com/rickar/cal/v2/lv"
	calmt "github.com/rickar/cal/v2/mt"
	calmw "github.com/rickar/cal/v2/mw"
	calmx "github.com/rickar/cal/v2/mx"
	calnc "github.com/rickar/cal/v2/nc"
	calnl "github.com/rickar/cal/v2/nl"
	calno "github.com/rickar/cal/v2/no"
	calnz "github.com/rickar/cal/v2/nz"
	calpl "github.com/rickar/cal/v2/pl"
	calpt "github.com/rickar/cal/v2/pt"
	calro "github.com/rickar/cal/v2/ro"
	calrs "github.com/rickar/cal/v2/rs"
	calru "github.com/rickar/cal/v2/ru"
	calse "github.com/rickar/cal/v2/se"
	calsi "github.com/rickar/cal/v2/si"
	calsk "github.com/rickar/cal/v2/sk"
	calth "github.com/rickar/cal/v2/th"
	calua "github.com/rickar/cal/v2/ua"
	calus "github.com/rickar/cal/v2/us"
	calza "github.com/rickar/cal/v2/za"
)

// holidayLists maps an ISO 3166 country code, or country-subdivision code,
// to the holiday list rickar/cal keeps for it. A subdivision's list is
// complete on its own (it repeats the country-wide days). Australia has no
// national list in the library, only its states.
var holidayLists = map[string][]*cal.Holiday{
	"AR":     calar.Holidays,
	"AT":     calat.Holidays,
	"AU-ACT": calau.HolidaysACT,
	"AU-NSW": calau.HolidaysNSW,
	"AU-NT":  calau.HolidaysNT,
	"AU-QLD": calau.HolidaysQLD,
	"AU-SA":  calau.HolidaysSA,
	"AU-TAS": calau.HolidaysTAS,
	"AU-VIC": calau.HolidaysVIC,
	"AU-WA":  calau.HolidaysWA,
	"BE":     calbe.Holidays,
	"BG":     calbg.Holidays,
	"BR":     calbr.Holidays,
	"CA":     calca.Holidays,
	"CH":     calch.Holidays,
	"CH-ZH":  calch.HolidaysZH,
	"CH-BE":  calch.HolidaysBE,
	"CH-LU":  calch.HolidaysLU,
	"CH-UR":  calch.HolidaysUR,
	"CH-SZ":  calch.HolidaysSZ,
	"CH-OW":  calch.HolidaysOW,
	"CH-NW":  calch.HolidaysNW,
	"CH-GL":  calch.HolidaysGL,
	"CH-ZG":  calch.HolidaysZG,
	"CH-FR":  calch.HolidaysFR,
	"CH-SO":  calch.HolidaysSO,
	"CH-BS":  calch.HolidaysBS,
	"CH-BL":  calch.HolidaysBL,
	"CH-SH":  calch.HolidaysSH,
	"CH-AR":  calch.HolidaysAR,
	"CH-AI":  calch.HolidaysAI,
	"CH-SG":  calch.HolidaysSG,
	"CH-GR":  calch.HolidaysGR,
	"CH-AG":  calch.HolidaysAG,
	"CH-TG":  calch.HolidaysTG,
	"CH-VD":  calch.HolidaysVD,
	"CH-TI":  calch.HolidaysTI,
	"CH-VS":  calch.HolidaysVS,
	"CH-NE":  calch.HolidaysNE,
	"CH-GE":  calch.HolidaysGE,
	"CH-JU":  calch.HolidaysJU,
	"CY":     calcy.Holidays,
	"CZ":     calcz.Holidays,
	"DE":     calde.Holidays,
	"DE-BW":  calde.HolidaysBW,
	"DE-BY":  calde.HolidaysBY,
	"DE-BE":  calde.HolidaysBE,
	"DE-BB":  calde.HolidaysBB,
	"DE-HB":  calde.HolidaysHB,
	"DE-HH":  calde.HolidaysHH,
	"DE-HE":  calde.HolidaysHE,
	"DE-MV":  calde.HolidaysMV,
	"DE-NI":  calde.HolidaysNI,
	"DE-NW":  calde.HolidaysNW,
	"DE-RP":  calde.HolidaysRP,
	"DE-SL":  calde.HolidaysSL,
	"DE-SN":  calde.HolidaysSN,
	"DE-ST":  calde.HolidaysST,
	"DE-SH":  calde.HolidaysSH,
	"DE-TH":  calde.HolidaysTH,
	"DK":     caldk.Holidays,
	"EE":     calee.Holidays,
	"ES":     cales.Holidays,
	"FI":     calfi.Holidays,
	"FR":     calfr.Holidays,
	"GB":     calgb.Holidays,
	"GR":     calgr.Holidays,
	"HR":     calhr.Holidays,
	"HU":     calhu.Holidays,
	"IE":     calie.Holidays,
	"IS":     calis.Holidays,
	"IT":     calit.Holidays,
	"JP":     caljp.Holidays,
	"KE":     calke.Holidays,
	"LT":     callt.Holidays,
	"LU":     callu.Holidays,
	"LV":     callv.Holidays,
	"MT":     calmt.Holidays,
	"MW":     calmw.Holidays,
	"MX":     calmx.Holidays,
	"NC":     calnc.Holidays,
	"NL":     calnl.Holidays,
	"NO":     calno.Holidays,
	"NZ":     calnz.Holidays,
	"PL":     calpl.Holidays,
	"PT":     calpt.Holidays,
	"RO":     calro.Holidays,
	"RS":     calrs.Holidays,
	"RU":     calru.Holidays,
	"SE":     calse.Holidays,
	"SI":     calsi.Holidays,
	"SK":     calsk.Holidays,
	"TH":     calth.Holidays,
	"UA":     calua.Holidays,
	"US":     calus.Holidays,
	"ZA":     calza.Holidays,
}

// holidayRegion is one configured country or subdivision and its calendar.
type holidayRegion struct {
	code string
	cal  *cal.Calendar
}

// HolidayRegions lists the country and subdivision codes that public holidays
// can be configured for, sorted.
func HolidayRegions() []string {
	codes := make([]string, 0, len(holidayLists))
	for code := range holidayLists {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	return codes
}

func parseHolidayRegion(code string) (holidayRegion, error) {
	norm := strings.ToUpper(strings.TrimSpace(code))
	if list, ok := holidayLists[norm]; ok {
		c := &cal.Calendar{}
		c.AddHoliday(list...)
		return holidayRegion{code: norm, cal: c}, nil
	}
	country, _, _ := strings.Cut(norm, "-")
	var subs []string
	for known := range holidayLists {
		if c, sub, ok := strings.Cut(known, "-"); ok && c == country {
			subs = append(subs, sub)
		}
	}
	slices.Sort(subs)
	_, national := holidayLists[country]
	switch {
	case len(subs) > 0 && norm == country:
		return holidayRegion{}, fmt.Errorf("holidays %q: the holiday library has %s only per region; use one of %s-%s", code, country, country, strings.Join(subs, ", "+country+"-"))
	case len(subs) > 0:
		return holidayRegion{}, fmt.Errorf("holidays %q: unknown region of %s; use %s or one of %s-%s", code, country, country, country, strings.Join(subs, ", "+country+"-"))
	case national:
		return holidayRegion{}, fmt.Errorf("holidays %q: the holiday library has no regions for %s; use %s", code, country, country)
	default:
		return holidayRegion{}, fmt.Errorf("holidays %q: not in the holiday library (github.com/rickar/cal/v2); use an ISO country code such as DE, FR, US, or a region such as DE-BY", code)
	}
}

// on reports the holiday, if any, on the calendar date of local.
func (r holidayRegion) on(local time.Time) (name string, observedOnly bool, ok bool) {
	actual, observed, h := r.cal.IsHoliday(local)
	if !actual && !observed {
		return "", false, false
	}
	return h.Name, !actual, true
}
