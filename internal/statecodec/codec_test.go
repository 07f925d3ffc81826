package statecodec

import (
	"slices"
	"testing"

	"github.com/stated-io/stated/serializer"
)

// The canonical list and map decoders read restored bytes: they must
// reject anything malformed without panicking.
func FuzzDecodeList(f *testing.F) {
	good, _ := EncodeList(nil, serializer.Serializer[string](serializer.String{}), []string{"a", "", "bc"})
	f.Add(good)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeList(b, serializer.String{}.Decode)
		if err != nil {
			return
		}
		again, err := EncodeList(nil, serializer.Serializer[string](serializer.String{}), l)
		if err != nil {
			t.Fatal(err)
		}
		if l2, err := DecodeList(again, serializer.String{}.Decode); err != nil || !slices.Equal(l, l2) {
			t.Fatalf("%q decodes to %q, which re-encodes to %q and decodes to %q (%v)", b, l, again, l2, err)
		}
	})
}

func FuzzDecodeMap(f *testing.F) {
	good, _ := EncodeMap(nil, serializer.Serializer[string](serializer.String{}), serializer.Serializer[int64](serializer.Int64{}), map[string]int64{"a": 1})
	f.Add(good)
	f.Add([]byte{2, 1, 'a', 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeMap(b, serializer.String{}.Decode, serializer.Int64{}.Decode)
	})
}
