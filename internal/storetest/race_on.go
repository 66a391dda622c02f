//go:build race

package storetest

// raceEnabled: the race detector slows hashing and SQL ~30x, so the bulk
// verification test writes fewer records under it (scripts/test.sh runs it
// once more without -race at full size).
const raceEnabled = true
