package wire

import (
	"strings"
	"time"
)

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// DateTimeLayout is the layout of date-time (RFC 3501 §9) for time.Format,
// without the quotes: "02-Jan-2006 15:04:05 -0700".
const DateTimeLayout = "02-Jan-2006 15:04:05 -0700"

// dateText parses date-day "-" date-month "-" date-year, with a 1- or
// 2-digit day (date-text); with fixed, the day may also be SP DIGIT
// (date-day-fixed of date-time).
func (p *parser) dateText(what string, fixed bool) (year int, month time.Month, day int, err error) {
	start := p.pos
	if fixed && p.peek() == ' ' {
		p.pos++
	}
	d, ok := p.fixedDigits(1, 2)
	if !ok {
		return 0, 0, 0, p.errorf("expected the day of %s (like 02-Jan-2006), found %s", what, p.found())
	}
	if err = p.expect('-', "after the day of "+what); err != nil {
		return
	}
	m := 0
	if p.pos+3 <= len(p.buf) {
		name := string(p.buf[p.pos : p.pos+3])
		for i, mn := range months {
			if strings.EqualFold(name, mn) {
				m = i + 1
			}
		}
	}
	if m == 0 {
		return 0, 0, 0, p.errorf("expected a month name (Jan, Feb, ...) in %s, found %s", what, p.found())
	}
	p.pos += 3
	if err = p.expect('-', "after the month of "+what); err != nil {
		return
	}
	y, ok := p.fixedDigits(4, 4)
	if !ok {
		return 0, 0, 0, p.errorf("expected a 4-digit year in %s, found %s", what, p.found())
	}
	if d < 1 || d > daysIn(time.Month(m), y) {
		p.pos = start
		return 0, 0, 0, p.errorf("%s has day %d, but %s %d has %d days", what, d, months[m-1], y, daysIn(time.Month(m), y))
	}
	return y, time.Month(m), d, nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// fixedDigits reads between lo and hi digits as a number.
func (p *parser) fixedDigits(lo, hi int) (int, bool) {
	n, i := 0, 0
	for ; i < hi && isDigit(p.peek()); i++ {
		n = n*10 + int(p.peek()-'0')
		p.pos++
	}
	return n, i >= lo
}

// searchDate parses date = date-text / DQUOTE date-text DQUOTE (RFC 3501
// §9), for SEARCH. The result is midnight UTC of that day; SEARCH compares
// dates without time or zone (RFC 3501 §6.4.4), so only Year, Month and
// Day mean anything.
func (p *parser) searchDate(what string) (time.Time, error) {
	quoted := p.accept('"')
	y, m, d, err := p.dateText(what, false)
	if err != nil {
		return time.Time{}, err
	}
	if quoted {
		if err := p.expect('"', "to close "+what); err != nil {
			return time.Time{}, err
		}
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

// dateTime parses date-time: DQUOTE date-day-fixed "-" date-month "-"
// date-year SP time SP zone DQUOTE (RFC 3501 §9). A 1-digit day without
// the leading space is accepted too.
func (p *parser) dateTime(what string) (time.Time, error) {
	if err := p.expect('"', "to open "+what); err != nil {
		return time.Time{}, err
	}
	y, mon, d, err := p.dateText(what, true)
	if err != nil {
		return time.Time{}, err
	}
	if err := p.sp("between the date and time of " + what); err != nil {
		return time.Time{}, err
	}
	var hms [3]int
	for i := range hms {
		if i > 0 {
			if err := p.expect(':', "in the time of "+what); err != nil {
				return time.Time{}, err
			}
		}
		v, ok := p.fixedDigits(2, 2)
		if !ok {
			return time.Time{}, p.errorf("expected 2 digits in the time of %s (hh:mm:ss), found %s", what, p.found())
		}
		hms[i] = v
	}
	if hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
		return time.Time{}, p.errorf("%s has an invalid time %02d:%02d:%02d", what, hms[0], hms[1], hms[2])
	}
	if err := p.sp("between the time and zone of " + what); err != nil {
		return time.Time{}, err
	}
	sign := p.peek()
	if sign != '+' && sign != '-' {
		return time.Time{}, p.errorf("expected a zone like +0100 or -0500 in %s, found %s", what, p.found())
	}
	p.pos++
	z, ok := p.fixedDigits(4, 4)
	if !ok {
		return time.Time{}, p.errorf("expected 4 digits in the zone of %s, found %s", what, p.found())
	}
	if z%100 > 59 {
		return time.Time{}, p.errorf("%s has an invalid zone: minutes above 59", what)
	}
	offset := (z/100*60 + z%100) * 60
	if sign == '-' {
		offset = -offset
	}
	if err := p.expect('"', "to close "+what); err != nil {
		return time.Time{}, err
	}
	return time.Date(y, mon, d, hms[0], hms[1], hms[2], 0, time.FixedZone("", offset)), nil
}
