package ttl

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stated-io/stated/internal/golden"
	"github.com/stated-io/stated/snapshot"
)

type goldenEncoding struct {
	Snapshots []goldenSnapshot `json:"snapshots"`
}

type goldenSnapshot struct {
	Inner     string `json:"inner"`
	Name      string `json:"name"`
	Version   uint32 `json:"version"`
	ConfigHex string `json:"config_hex"`
}

// goldenInners are the snapshots of backend's Int64Serializer,
// StringSerializer and JSONSerializer (TypeName "point"), and of a made-up
// serializer. backend's TestTTLEncodingGolden pins the value encoding of
// serializer.TTL and its snapshot over the real serializers.
var goldenInners = []snapshot.SerializerSnapshot{
	{Name: "int64", Version: 1},
	{Name: "string", Version: 1},
	{Name: "json", Version: 1, Config: []byte("point")},
	{Name: "x", Version: 300, Config: []byte{0, 1, 2}},
}

func computeGoldenEncoding(t *testing.T) goldenEncoding {
	var g goldenEncoding
	for _, in := range goldenInners {
		s := WrapSnapshot(in)
		g.Snapshots = append(g.Snapshots, goldenSnapshot{describe(in), s.Name, s.Version, hex.EncodeToString(s.Config)})
	}
	return g
}

// TestEncodingGolden pins the stated.ttl snapshot, part of the on-disk
// format (FORMAT.md).
func TestEncodingGolden(t *testing.T) {
	path := filepath.Join("testdata", "encoding.golden.json")
	got, err := json.MarshalIndent(computeGoldenEncoding(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := golden.Check(t, path, append(got, '\n'), "ttl snapshot encoding")

	// The golden bytes decode to what wrote them.
	var g goldenEncoding
	if err := json.Unmarshal(want, &g); err != nil {
		t.Fatal(err)
	}
	for i, s := range g.Snapshots {
		config, err := hex.DecodeString(s.ConfigHex)
		if err != nil {
			t.Fatal(err)
		}
		inner, ok, err := UnwrapSnapshot(snapshot.SerializerSnapshot{Name: s.Name, Version: s.Version, Config: config})
		if !ok || err != nil || !reflect.DeepEqual(inner, goldenInners[i]) {
			t.Errorf("golden snapshot of %s unwraps to %+v, %v, %v", s.Inner, inner, ok, err)
		}
	}
}

// describe names a serializer as backend's errors do.
func describe(s snapshot.SerializerSnapshot) string {
	return fmt.Sprintf("%s (version %d)", s.Name, s.Version)
}
