package main

import "fmt"

// The synthetic input: record i is a click at base + i*step milliseconds
// minus a jitter of up to maxJitter, so the stream is out of order (across
// users and within a user) by at most maxJitter, below the watermark bound
// outOfOrderness: on an uninterrupted run no click is late.
//
// Users are active in bursts. Time is cut into periods of numGroups
// phases; user u belongs to group u%numGroups and clicks only during its
// group's phase, in the periods it does not sit out (one in four, chosen
// by a hash). So a user's bursts last at most one phase and are separated
// by at least (numGroups-1) phases minus maxJitter of silence: 58 s, more
// than the default session gap of 30 s, while clicks within a burst are a
// fraction of a second apart. So every burst is exactly one session for
// any gap from 22 s (the longest a burst can last) to 58 s.
const (
	numUsers      = 200
	numGroups     = 4
	usersPerGroup = numUsers / numGroups
	phase         = int64(20_000)            // milliseconds
	period        = numGroups * phase        // milliseconds
	baseTime      = int64(1_735_689_600_000) // 2025-01-01T00:00:00Z in milliseconds
	step          = int64(10)                // milliseconds of event time per record
	maxJitter     = int64(2000)              // milliseconds
)

// click is one click of a user at TS (epoch milliseconds).
type click struct {
	User string
	TS   int64
}

// clickAt is the deterministic generator of the input: a pure function of
// i, as engine.Generate requires for a restored job to see the same records
// again.
func clickAt(i int64) click {
	t := i * step
	p := t / period
	g := (t % period) / phase
	// The users of group g that click in period p.
	var active [usersPerGroup]int64
	n := 0
	for k := range int64(usersPerGroup) {
		u := g + numGroups*k
		if mix(uint64(u), uint64(p)+100)%4 != 0 {
			active[n] = u
			n++
		}
	}
	h := mix(uint64(i), 1)
	u := g + numGroups*int64(h%usersPerGroup) // if the whole group sits out
	if n > 0 {
		u = active[h%uint64(n)]
	}
	jitter := int64(mix(uint64(i), 2) % uint64(maxJitter+1))
	return click{User: userName(u), TS: baseTime + t - jitter}
}

func userName(u int64) string { return fmt.Sprintf("user-%03d", u) }

// mix is SplitMix64 of x salted with salt: a cheap, well-spread hash.
func mix(x, salt uint64) uint64 {
	z := x*0x9e3779b97f4a7c15 + salt*0xbf58476d1ce4e5b9 + 0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
