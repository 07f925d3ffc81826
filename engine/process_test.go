package engine

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
)

// timerFn registers an event-time timer per key at the record's index and
// emits "key@timestamp" when one fires: it implements TimerHandler.
type timerFn struct{ noTimersFn }

func (f *timerFn) OnTimer(ctx *Context[string, string], ts int64, domain TimeDomain) error {
	if domain != EventTime {
		return errors.New("a processing-time timer fired")
	}
	ctx.Emit(ctx.Key() + "@" + strconv.FormatInt(ts, 10))
	return nil
}

// noTimersFn registers timers but has no OnTimer.
type noTimersFn struct{}

func (noTimersFn) Open(*RuntimeContext[string]) error { return nil }

func (noTimersFn) ProcessElement(ctx *Context[string, string], in string) error {
	return ctx.RegisterEventTimeTimer(100)
}

// TestProcessTimers: the timers of a function that implements TimerHandler
// fire (here with the final watermark), once per key and timestamp; a
// function without OnTimer cannot register one and the job fails with
// ErrNoTimerHandler instead of dropping it.
func TestProcessTimers(t *testing.T) {
	const records = 200
	for _, tc := range []struct {
		name    string
		fn      func() KeyedProcessFunction[string, string, string]
		wantErr bool
	}{
		{"with OnTimer", func() KeyedProcessFunction[string, string, string] { return &timerFn{} }, false},
		{"without OnTimer", func() KeyedProcessFunction[string, string, string] { return noTimersFn{} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := New(Options{Config: testConfig(t, t.TempDir())})
			src := FromSource(j, "source", Generate(records, keyOf))
			fired := Process(KeyBy(src, func(s string) string { return s }, serializer.String{}), "timers", tc.fn)
			var got collector[string]
			ForEach(fired, "sink", got.add)
			if tc.wantErr {
				if err := runErr(t, j); !errors.Is(err, ErrNoTimerHandler) || strings.Contains(err.Error(), "fired") {
					t.Fatalf("a function without OnTimer registered a timer: %v, want ErrNoTimerHandler from the registration", err)
				}
				return
			}
			run(t, j)
			var want []string
			for i := range int64(37) {
				want = append(want, keyOf(i)+"@100")
			}
			slices.Sort(want)
			out := got.all()
			slices.Sort(out)
			if !slices.Equal(out, want) {
				t.Fatalf("fired %v, want one timer at 100 per key: %v", out, want)
			}
		})
	}
}

// TestRestoredTimerWithoutHandler: a timer that fires for a function
// without OnTimer (restored from a run whose function had one) fails the
// operator with ErrNoTimerHandler, naming the operator and the key.
func TestRestoredTimerWithoutHandler(t *testing.T) {
	op := &processOp[string, string, string]{keyedBase: &keyedBase[string]{uid: "timers"}, fn: noTimersFn{}}
	err := op.fire(EventTime)(backend.Timer[string]{Key: "k1", Timestamp: 7})
	if !errors.Is(err, ErrNoTimerHandler) || !strings.Contains(err.Error(), `"timers"`) || !strings.Contains(err.Error(), "k1") {
		t.Fatalf("a timer fired without OnTimer: %v, want ErrNoTimerHandler naming the operator and the key", err)
	}
}
