package state

import (
	"errors"
	"testing"

	"github.com/stated-io/stated/serializer"
)

func TestTimerKeySerializer(t *testing.T) {
	for _, k := range []timerKey{{ts: -5, ns: "w"}, {ts: 1 << 40}} {
		b, err := timerKeySerializer{}.Append([]byte("prefix"), k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := timerKeySerializer{}.Decode(b[len("prefix"):])
		if err != nil || got != k {
			t.Fatalf("round trip of %v gave (%v, %v)", k, got, err)
		}
	}
	s := timerKeySerializer{}
	if c := s.Compatibility(s.Snapshot()); c.Kind != serializer.CompatibleAsIs {
		t.Fatalf("not compatible with itself: %v", c.Kind)
	}
	if _, err := s.Decode([]byte{1}); !errors.Is(err, serializer.ErrDecode) {
		t.Fatalf("a short timer gave %v, want ErrDecode", err)
	}
}

func FuzzTimerKey(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 'w'})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := timerKeySerializer{}.Decode(b)
		if err != nil {
			return
		}
		again, _ := timerKeySerializer{}.Append(nil, k)
		if string(again) != string(b) {
			t.Fatalf("timer %q re-encodes to %q", b, again)
		}
	})
}
