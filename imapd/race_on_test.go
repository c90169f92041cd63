//go:build race

package imapd

// raceEnabled: the race detector's instrumentation makes frames larger,
// so tests of stack sizes do not hold under it.
const raceEnabled = true
