package jobcli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// countOp counts its keys in ValueState "n" of int64, or of string with
// asString (a serializer change).
type countOp struct {
	asString bool
	n        state.ValueState[int64]
	s        state.ValueState[string]
}

func (c *countOp) Open(rc *engine.RuntimeContext[string]) (err error) {
	if c.asString {
		c.s, err = state.GetValueState(rc.Backend, state.ValueDescriptor[string]{Name: "n", Serializer: serializer.String{}})
		return err
	}
	c.n, err = state.GetValueState(rc.Backend, state.ValueDescriptor[int64]{Name: "n", Serializer: serializer.Int64{}})
	return err
}

func (c *countOp) ProcessElement(ctx *engine.Context[string, string], w string) error {
	if c.asString {
		return c.s.Update(w)
	}
	v, _, err := c.n.Value()
	if err != nil {
		return err
	}
	ctx.Emit(w + "\t" + strconv.FormatInt(v+1, 10))
	return c.n.Update(v + 1)
}

// runWords runs a word count over input into dir/out through RunJob and
// returns its result, exit code and stderr.
func runWords(t *testing.T, dir, input string, asString bool, sets ...string) (*engine.Result, int, string) {
	t.Helper()
	f := Flags{Sets: append([]string{"state.backend.lsm.local-dir=" + filepath.Join(dir, "lsm"), "parallelism.default=2"}, sets...)}
	cfg, err := f.Config("words", filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	job := engine.New(engine.Options{Config: cfg, Logger: Logger(&bytes.Buffer{})})
	lines := engine.FromSource(job, "lines", engine.Lines(input))
	words := engine.FlatMap(lines, "split", func(l string, emit func(string)) error {
		for _, w := range strings.Fields(l) {
			emit(w)
		}
		return nil
	})
	counts := engine.Process(engine.KeyBy(words, func(w string) string { return w }, serializer.String{}), "counter",
		func() engine.KeyedProcessFunction[string, string, string] { return &countOp{asString: asString} })
	engine.WriteLines(counts, "output", filepath.Join(dir, "out"))
	res, code := RunJob("words", job, &bytes.Buffer{}, &stderr)
	return res, code, stderr.String()
}

// repeatedContext returns a piece of context msg gives twice (an operator
// named twice, or one ": "-separated part right after itself), or "".
func repeatedContext(msg string) string {
	for _, op := range []string{`operator "counter"`, `operator "lines"`, `operator "output"`} {
		if strings.Count(msg, op) > 1 {
			return op
		}
	}
	parts := strings.Split(msg, ": ")
	for i := 1; i < len(parts); i++ {
		if parts[i] == parts[i-1] {
			return parts[i]
		}
	}
	return ""
}

// TestErrorMessages runs real jobs into real failures and checks that
// every message says each piece of context once, names what is wrong,
// and comes with the right exit code.
func TestErrorMessages(t *testing.T) {
	var text bytes.Buffer
	for i := range 300 {
		fmt.Fprintf(&text, "w%d w%d w%d\n", i%17, i%5, i)
	}
	for _, be := range []string{"hashmap", "lsm"} {
		t.Run(be, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "in.txt")
			if err := os.WriteFile(input, text.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			res, code, stderr := runWords(t, dir, input, false, "state.backend.type="+be)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			chk := res.LastCheckpoint
			restore := func(asString bool, sets ...string) (int, string) {
				_, code, stderr := runWords(t, dir, input, asString, append([]string{"state.backend.type=" + be, "execution.state-recovery.path=" + chk}, sets...)...)
				return code, stderr
			}
			damage := func(match string) {
				t.Helper()
				n := 0
				filepath.Walk(chk, func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() && strings.Contains(filepath.ToSlash(p), match) && fi.Size() > 0 {
						b, _ := os.ReadFile(p)
						b[len(b)/2] ^= 0xff
						os.WriteFile(p, b, 0o644)
						n++
					}
					return nil
				})
				if n == 0 {
					t.Fatalf("no file of %s matches %q", chk, match)
				}
			}

			for _, c := range []struct {
				name     string
				asString bool
				sets     []string
				code     int
				says     string
			}{
				{"serializer change", true, nil, ExitRuntime, `open: operator "counter" state "n": new serializer string`},
				{"max parallelism", false, []string{"pipeline.max-parallelism=64"}, ExitUsage, "maxParallelism 128 but is restored with maxParallelism 64"},
				{"stated:// savepoints", false, []string{"execution.checkpointing.savepoint-dir=stated://h:7070/sp"}, ExitUsage, "need the stated service"},
				{"missing restore path", false, []string{"execution.state-recovery.path=" + filepath.Join(dir, "none", "job", "chk-9")}, ExitUsage,
					"execution.state-recovery.path " + filepath.Join(dir, "none", "job", "chk-9") + ": open storage: " + filepath.Join(dir, "none") + ": no such directory"},
				{"restore path without _metadata", false, []string{"execution.state-recovery.path=" + filepath.Join(dir, "out", "_checkpoints", "words", "chk-9")}, ExitUsage,
					filepath.Join(dir, "out", "_checkpoints", "words", "chk-9", "_metadata") + ": snapshot: does not exist"},
			} {
				code, stderr := restore(c.asString, c.sets...)
				if code != c.code || !strings.Contains(stderr, c.says) || repeatedContext(stderr) != "" {
					t.Errorf("%s: exit %d (want %d), want one mention of each context and %q:\n%s", c.name, code, c.code, c.says, stderr)
				}
			}

			damage("/counter-")
			code, stderr = restore(false)
			if code != ExitRuntime || !strings.Contains(stderr, `operator "counter": restore: `) || !strings.Contains(stderr, "corrupt ") || repeatedContext(stderr) != "" {
				t.Errorf("damaged keyed state: exit %d:\n%s", code, stderr)
			}
			damage("/lines-")
			code, stderr = restore(false)
			if code != ExitRuntime || !strings.Contains(stderr, `operator "lines": restore operator state: corrupt `) || repeatedContext(stderr) != "" {
				t.Errorf("damaged source state: exit %d:\n%s", code, stderr)
			}
		})
	}
}
