package backend_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCapabilityIsRequired: a backend that implements only the methods
// common to every backend does not compile as a KeyedBackend; it must say
// through Capability whether it keeps objects or bytes.
func TestCapabilityIsRequired(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool builds the program: %v", err)
	}
	out, err := exec.Command(goTool, "build", "-o", filepath.Join(t.TempDir(), "nocapability"), "./testdata/nocapability").CombinedOutput()
	if err == nil {
		t.Fatal("a backend without Capability compiles as a backend.KeyedBackend")
	}
	if !strings.Contains(string(out), "missing method Capability") {
		t.Fatalf("building a backend without Capability failed for another reason:\n%s", out)
	}
}
