package ttl

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stated-io/stated/backend"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type goldenEncoding struct {
	Values    []goldenValue    `json:"values"`
	Snapshots []goldenSnapshot `json:"snapshots"`
}

type goldenValue struct {
	Case string `json:"case"`
	Hex  string `json:"hex"`
}

type goldenSnapshot struct {
	Inner     string `json:"inner"`
	Name      string `json:"name"`
	Version   uint32 `json:"version"`
	ConfigHex string `json:"config_hex"`
}

type goldenValueCase struct {
	name   string
	encode func() ([]byte, error)
	check  func(b []byte) bool
}

func valueCase[V comparable](name string, s backend.Serializer[V], v Value[V]) goldenValueCase {
	ts := Serializer[V]{Inner: s}
	return goldenValueCase{name,
		func() ([]byte, error) { return ts.Append(nil, v) },
		func(b []byte) bool { got, err := ts.Decode(b); return err == nil && got == v }}
}

var goldenValueCases = []goldenValueCase{
	valueCase[int64]("int64 0 at 0", backend.Int64Serializer{}, Value[int64]{}),
	valueCase[int64]("int64 -2 at 1700000000000", backend.Int64Serializer{}, Value[int64]{Timestamp: 1_700_000_000_000, Value: -2}),
	valueCase[string]("string hello at 1700000000000", backend.StringSerializer{}, Value[string]{Timestamp: 1_700_000_000_000, Value: "hello"}),
	valueCase[string]("empty string at -1", backend.StringSerializer{}, Value[string]{Timestamp: -1}),
	valueCase[point]("json point {1,2} at 42", backend.JSONSerializer[point]{TypeName: "point"}, Value[point]{Timestamp: 42, Value: point{1, 2}}),
}

var goldenInners = []backend.SerializerSnapshot{
	backend.Int64Serializer{}.Snapshot(),
	backend.StringSerializer{}.Snapshot(),
	backend.JSONSerializer[point]{TypeName: "point"}.Snapshot(),
	{Name: "x", Version: 300, Config: []byte{0, 1, 2}},
}

func computeGoldenEncoding(t *testing.T) goldenEncoding {
	var g goldenEncoding
	for _, c := range goldenValueCases {
		b, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		g.Values = append(g.Values, goldenValue{c.name, hex.EncodeToString(b)})
	}
	for _, in := range goldenInners {
		s := WrapSnapshot(in)
		g.Snapshots = append(g.Snapshots, goldenSnapshot{describe(in), s.Name, s.Version, hex.EncodeToString(s.Config)})
	}
	return g
}

// TestEncodingGolden pins the stored value encoding and the stated.ttl
// snapshot, part of the on-disk format (FORMAT.md).
func TestEncodingGolden(t *testing.T) {
	path := filepath.Join("testdata", "encoding.golden.json")
	got, err := json.MarshalIndent(computeGoldenEncoding(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatalf("ttl encoding differs from %s: it is part of the on-disk format and must never change\ngot:\n%s", path, got)
	}

	// The golden bytes decode to what wrote them.
	var g goldenEncoding
	if err := json.Unmarshal(want, &g); err != nil {
		t.Fatal(err)
	}
	for i, v := range g.Values {
		b, err := hex.DecodeString(v.Hex)
		if err != nil || !goldenValueCases[i].check(b) {
			t.Errorf("golden value %q does not decode back (%v)", v.Case, err)
		}
	}
	for i, s := range g.Snapshots {
		config, err := hex.DecodeString(s.ConfigHex)
		if err != nil {
			t.Fatal(err)
		}
		inner, ok, err := UnwrapSnapshot(backend.SerializerSnapshot{Name: s.Name, Version: s.Version, Config: config})
		if !ok || err != nil || !reflect.DeepEqual(inner, goldenInners[i]) {
			t.Errorf("golden snapshot of %s unwraps to %+v, %v, %v", s.Inner, inner, ok, err)
		}
	}
}
