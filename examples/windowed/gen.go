package main

import "fmt"

// The synthetic input: record i is a reading of one of numSensors sensors,
// taken at base + i*step milliseconds minus a jitter of up to maxJitter,
// so the stream is out of order by at most maxJitter. maxJitter is below
// the watermark bound (outOfOrderness), so on an uninterrupted run no
// reading is late and every window holds all of its readings.
const (
	numSensors = 50
	baseTime   = int64(1_735_689_600_000) // 2025-01-01T00:00:00Z in milliseconds
	step       = int64(5)                 // milliseconds of event time per record
	maxJitter  = int64(2000)              // milliseconds
)

// reading is one sensor measurement. Value is in thousandths (a
// temperature in millidegrees), so sums are exact in any order.
type reading struct {
	Sensor string
	Value  int64
	TS     int64
}

// readingAt is the deterministic generator of the input: a pure function
// of i, as engine.Generate requires for a restored job to see the same
// records again.
func readingAt(i int64) reading {
	h1 := mix(uint64(i), 1)
	h2 := mix(uint64(i), 2)
	h3 := mix(uint64(i), 3)
	return reading{
		Sensor: sensorName(int(h1 % numSensors)),
		Value:  int64(h2%60_000) - 20_000, // -20.000 .. 39.999
		TS:     baseTime + i*step - int64(h3%uint64(maxJitter+1)),
	}
}

func sensorName(n int) string { return fmt.Sprintf("sensor-%02d", n) }

// mix is SplitMix64 of x salted with salt: a cheap, well-spread hash.
func mix(x, salt uint64) uint64 {
	z := x*0x9e3779b97f4a7c15 + salt*0xbf58476d1ce4e5b9 + 0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// formatMilli writes thousandths as a decimal with three places: -1500 is
// "-1.500".
func formatMilli(v int64) string {
	sign := ""
	u := v
	if v < 0 {
		sign, u = "-", -v
	}
	return fmt.Sprintf("%s%d.%03d", sign, u/1000, u%1000)
}
