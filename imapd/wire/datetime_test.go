package wire

import (
	"testing"
	"time"
)

func TestAppendDateTimeMatchesFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -(3*3600 + 30*60)), time.FixedZone("y", 5*3600+45*60), time.Local}
	for _, loc := range zones {
		for _, ts := range []int64{0, 1, 86399, 951782400, 1700000000, 253402300799, -62135596800} {
			tm := time.Unix(ts, 0).In(loc)
			if got, want := string(appendDateTime(nil, tm)), tm.Format(DateTimeLayout); got != want {
				t.Errorf("%v: %q, want %q", tm, got, want)
			}
		}
	}
}
