package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadYAML feeds arbitrary bytes through ReadFile and Parse: neither
// may panic, ReadFile's errors are *FileError and Parse's are *Problem.
func FuzzReadYAML(f *testing.F) {
	for _, seed := range []string{
		"",
		"state.backend.type: lsm\n",
		"state:\n  backend:\n    type: lsm\nparallelism.default: 4\n",
		"execution.checkpointing.interval: 10 min\npipeline.max-parallelism: 64\nparallelism.default: 65\n",
		"a: [1, 2]\n",
		"a: 1\na: 2\n",
		"a: &x {b: *x}\n",
		"a: b: c\n",
		"- x\n",
		"a: 1\n---\nb: 2\n",
		"<<: {a: 1}\n",
		"? [a]\n: b\n",
		"s3.secret-key: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "job.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		values, err := ReadFile(path)
		if err != nil {
			if values != nil {
				t.Fatalf("ReadFile returned values with error %v", err)
			}
			fileErrors(t, err)
			return
		}
		j, err := Parse(values)
		switch {
		case err != nil && j != nil:
			t.Fatalf("Parse returned a Job with error %v", err)
		case err != nil:
			for _, p := range problems(t, err) {
				if !errors.Is(p, ErrUnknownKey) && !errors.Is(p, ErrInvalidValue) {
					t.Fatalf("problem %v wraps neither sentinel", p)
				}
			}
		case j == nil:
			t.Fatal("Parse returned neither a Job nor an error")
		}
	})
}
