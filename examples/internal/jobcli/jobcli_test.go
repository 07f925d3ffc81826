package jobcli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigPrecedence checks defaults < --config file < --set < flags.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "job.yaml")
	yaml := "pipeline.name: from-file\nparallelism.default: 5\nexecution.checkpointing.interval: 3s\n" +
		"execution.checkpointing.timeout: 7s\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var f Flags
	fs := f.NewFlagSet("job", &bytes.Buffer{})
	err := f.Parse(fs, []string{"--config", file, "--set", "parallelism.default=4", "--set", "execution.checkpointing.interval=2s",
		"--parallelism", "3", "--restore", "latest"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Config("job", "out")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("out")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"pipeline.name (file over default)", cfg.Name, "from-file"},
		{"checkpoint dir (default)", cfg.CheckpointDir, filepath.Join(abs, "_checkpoints")},
		{"savepoint dir (default)", cfg.SavepointDir, filepath.Join(abs, "_savepoints")},
		{"timeout (file)", cfg.Timeout, 7 * time.Second},
		{"interval (--set over file)", cfg.Interval, 2 * time.Second},
		{"parallelism (flag over --set)", cfg.Parallelism, 3},
		{"recovery path (flag)", cfg.RecoveryPath, "latest"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.key, c.got, c.want)
		}
	}
}

// An s3:// location with missing or bad s3.* keys is a configuration
// error before the job starts.
func TestConfigChecksS3(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want string // "" for no error
	}{
		{[]string{"execution.checkpointing.dir=s3://b/c"}, "execution.checkpointing.dir s3://b/c: s3:// locations need s3.endpoint"},
		{[]string{"execution.checkpointing.savepoint-dir=s3://b/s", "s3.endpoint=ftp://h:21"}, `s3.endpoint: invalid value "ftp://h:21"`},
		{[]string{"execution.checkpointing.dir=s3://b/c", "s3.endpoint=http://h:9000", "s3.secret-key=only"}, "s3.access-key"},
		{[]string{"execution.checkpointing.dir=s3://b/c", "s3.endpoint=http://h:9000"}, ""},
		{[]string{"s3.endpoint=127.0.0.1:9000"}, "missing scheme"}, // a bad value is refused even if unused
	} {
		f := Flags{Sets: c.sets}
		_, err := f.Config("job", t.TempDir())
		if got := errString(err); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%q: error %q, want %q", c.sets, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"--input", "i", "--output", "o"}, ""},
		{nil, "missing --input and --output"},
		{[]string{"--input", "i", "extra"}, "missing --output"},
		{[]string{"--input", "i", "--output", "o", "extra"}, `unexpected argument "extra"`},
		{[]string{"--input", "i", "--output", "o", "--parallelism", "-1", "--rate", "-1"}, "--parallelism -1: want a positive number"},
		{[]string{"--input", "i", "--output", "o", "--rate", "-1"}, "--rate -1: want 0 (no cap) or more"},
		{[]string{"-h"}, flag.ErrHelp.Error()},
	} {
		var f Flags
		var stderr bytes.Buffer
		fs := f.NewFlagSet("job", &stderr)
		fs.String("input", "", "")
		fs.String("output", "", "")
		err := f.Parse(fs, c.args, "input", "output")
		if got := errString(err); got != c.want {
			t.Errorf("%q: error %q, want %q", c.args, got, c.want)
		}
		var stderrCode bytes.Buffer
		if code := Usage(&stderrCode, "job", err); err != nil {
			want, wantOut := ExitUsage, "job: "+c.want+"\n"
			if errors.Is(err, flag.ErrHelp) {
				want, wantOut = ExitOK, ""
			}
			if code != want || stderrCode.String() != wantOut {
				t.Errorf("%q: Usage %d, %q; want %d, %q", c.args, code, stderrCode.String(), want, wantOut)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestReadCommitted(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"part-0-1":             "a\nb\n",
		"part-1-1":             "c\n",
		".part-0-2.inprogress": "x\n",
		"_tmp":                 "y\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "_checkpoints"), 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := ReadCommitted(dir, func(_, line string) error { lines = append(lines, line); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines, ","); got != "a,b,c" {
		t.Errorf("lines %s, want a,b,c", got)
	}
	var stdout, stderr bytes.Buffer
	if code := ReportCommitted(&stdout, &stderr, "job", "lines", dir); code != ExitOK || stdout.String() != "3 lines committed in "+dir+"\n" {
		t.Errorf("ReportCommitted: %d, %q, %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := ReportCommitted(&stdout, &stderr, "job", "lines", filepath.Join(dir, "none")); code != ExitOK || !strings.HasPrefix(stdout.String(), "0 lines") {
		t.Errorf("ReportCommitted of a missing dir: %d, %q, %q", code, stdout.String(), stderr.String())
	}
}
