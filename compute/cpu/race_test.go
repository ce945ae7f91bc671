//go:build race

package cpu

// raceEnabled: under the race detector sync.Pool drops items at random, so
// pooled buffers (the GEMM's packing panels) are reallocated.
const raceEnabled = true
