package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run ends with one summary line on stdout: lines and words read,
// checkpoints, and the committed output with its whole directory, also
// after a restart that reads nothing more.
func TestWordcountSummary(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(input, []byte("a b c\nb c\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--input", input, "--output", "out", "--parallelism", "2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	want := "wordcount: 3 lines read, 6 words; checkpoints: 1 completed, 0 failed; 6 lines committed in " + filepath.Join(dir, "out") + "\n"
	if stdout.String() != want {
		t.Fatalf("stdout %q, want %q", stdout.String(), want)
	}
	stdout.Reset()
	if code := run([]string{"--input", input, "--output", "out", "--restore", "latest"}, &stdout, &stderr); code != 0 {
		t.Fatalf("restart: exit %d:\n%s", code, stderr.String())
	}
	if got := stdout.String(); !strings.HasPrefix(got, "wordcount: 0 lines read, 0 words; checkpoints: ") || !strings.HasSuffix(got, "; 6 lines committed in "+filepath.Join(dir, "out")+"\n") {
		t.Fatalf("restart: stdout %q", got)
	}
}
