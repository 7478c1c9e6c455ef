//go:build race

package dialplan

// raceEnabled is set when the race detector is on: sync.Pool then drops
// items at random (regexp keeps its matchers in one), so allocation counts
// mean nothing.
const raceEnabled = true
