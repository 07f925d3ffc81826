package backendtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
	"github.com/stated-io/stated/ttl"
)

// PlateauOptions adapts RunTTLPlateau to a backend. Zero values take the
// defaults documented on each field.
type PlateauOptions struct {
	// Seconds is how many seconds of the fake clock the stream runs.
	// Default 24.
	Seconds int
	// KeysPerSecond is how many new keys arrive per second. Default 20000.
	KeysPerSecond int
	// ValueBytes is the size of each value. Default 64.
	ValueBytes int
	// Maintain runs after every simulated second: what the backend would
	// do on a real-time timer meanwhile (an LSM background sweep, say).
	// Optional.
	Maintain func(b backend.KeyedBackend[string]) error
	// DiskSize returns the bytes the backend holds on local disk. Optional;
	// when set, the disk size must plateau too.
	DiskSize func(b backend.KeyedBackend[string]) (int64, error)
}

// RunTTLPlateau streams new keys into a value state with a 1 s TTL on a
// fake clock, never reading them again, with the TTL's default cleanup.
// The number of entries the backend holds (counted by Keys under
// ttl.ReturnExpiredIfNotCleanedUp, which shows everything not cleaned up)
// must stay bounded by a few seconds' worth of keys, and so must the disk
// size if o.DiskSize is set: its maximum over the second half of the run
// may not exceed 1.4 times its maximum over the second quarter (plus
// 1 MiB), which linear growth would.
func RunTTLPlateau(t *testing.T, f Factory, o PlateauOptions) {
	if o.Seconds == 0 {
		o.Seconds = 24
	}
	if o.KeysPerSecond == 0 {
		o.KeysPerSecond = 20_000
	}
	if o.ValueBytes == 0 {
		o.ValueBytes = 64
	}
	clock := ttl.NewManualClock(t0)
	c, err := buildCluster(t, f, 1, 128, nil, settings{clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	b := c.keyed[0]
	d := state.ValueDescriptor[string]{Name: "session", Serializer: serializer.String{},
		TTL: &ttl.Config{TTL: time.Second, Visibility: ttl.ReturnExpiredIfNotCleanedUp}}
	st, err := state.GetValueState(b, d)
	must(t, err)
	value := string(make([]byte, o.ValueBytes))
	held := make([]int, o.Seconds)
	disk := make([]int64, o.Seconds)
	next := 0
	for s := range o.Seconds {
		for i := range o.KeysPerSecond {
			clock.Set(t0 + int64(s)*1000 + int64(i)*1000/int64(o.KeysPerSecond))
			must(t, b.SetCurrentKey(fmt.Sprintf("k%09d", next)))
			next++
			must(t, st.Update(value))
		}
		clock.Set(t0 + int64(s+1)*1000)
		if o.Maintain != nil {
			must(t, o.Maintain(b))
		}
		must(t, b.Keys(d.Name, "", func(string) bool { held[s]++; return true }))
		if o.DiskSize != nil {
			disk[s], err = o.DiskSize(b)
			must(t, err)
		}
	}
	t.Logf("entries held per second: %v (of %d written)", held, next)
	if o.DiskSize != nil {
		t.Logf("disk bytes per second: %v", disk)
	}
	limit := 3 * o.KeysPerSecond
	for s := 2; s < o.Seconds; s++ {
		if held[s] > limit {
			t.Fatalf("after %d s the backend holds %d entries, more than %d (three seconds' worth with a 1 s ttl): state does not plateau", s+1, held[s], limit)
		}
	}
	if o.DiskSize != nil {
		q, h := maxOf(disk[o.Seconds/4:o.Seconds/2]), maxOf(disk[o.Seconds/2:])
		if float64(h) > 1.4*float64(q)+(1<<20) {
			t.Fatalf("disk size grows: max %d bytes over the second half, %d over the second quarter", h, q)
		}
	}
}

func maxOf(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
