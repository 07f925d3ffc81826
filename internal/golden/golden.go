// Package golden pins encodings that are part of the on-disk format to
// files under testdata/. Tests call Check; `go test -update` rewrites the
// files, which is only right for a deliberate, versioned format change.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"testing"
	"unicode"
	"unicode/utf8"
)

// update is the -update flag of every test binary that imports golden.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Check compares got with the golden file at path, rewriting the file
// first when -update is set, and fails t naming what drifted. It returns
// the file's bytes, so the test can check that they decode back.
func Check(t testing.TB, path string, got []byte, what string) []byte {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("%s differs from %s: it is part of the on-disk format and must never change\ngot:\n%s", what, path, printable(got))
	}
	return want
}

// printable shows text as is and binary data by its size.
func printable(b []byte) string {
	if !utf8.Valid(b) || bytes.ContainsFunc(b, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return fmt.Sprintf("%d bytes of binary data", len(b))
	}
	return string(b)
}
