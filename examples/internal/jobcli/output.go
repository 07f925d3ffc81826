package jobcli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stated-io/stated/engine"
)

// committedFiles returns the paths, sorted, of the committed output in
// dir: see ReadCommitted.
func committedFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
	}
	return files, nil
}

// ReadCommitted calls line for every line of the committed output in dir
// of an exactly-once file sink, file by file in name order, and stops at
// the first error. The committed output is the files whose name starts
// with neither "." nor "_" (in-progress files and the _checkpoints and
// _savepoints directories start with one of them). A dir that does not
// exist holds none.
func ReadCommitted(dir string, line func(file, text string) error) error {
	files, err := committedFiles(dir)
	if err != nil {
		return err
	}
	for _, path := range files {
		if err := readLines(path, line); err != nil {
			return err
		}
	}
	return nil
}

func readLines(path string, line func(file, text string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := line(path, sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// countCommitted counts the lines of the committed output in dir.
func countCommitted(dir string) (int, error) {
	n := 0
	err := ReadCommitted(dir, func(string, string) error {
		n++
		return nil
	})
	return n, err
}

// ReportCommitted prints "<n> <noun> committed in <dir>" to stdout, where
// n is the number of lines of the committed output in dir, and returns
// ExitOK. If it cannot read them, it prints "name: count the committed
// output: <error>" to stderr and returns ExitRuntime.
func ReportCommitted(stdout, stderr io.Writer, name, noun, dir string) int {
	return ReportSummary(stdout, stderr, name, "", noun, dir)
}

// ReportSummary prints the summary line of a run to stdout and returns
// ExitOK: "<name>: <what>; <n> <noun> committed in <dir>", where what says
// what the run did (records read, checkpoints; see Checkpoints) and n is
// the number of lines of the committed output in dir, which is printed
// whole (absolute). With what empty the line is ReportCommitted's. If it
// cannot count the lines, it prints "name: count the committed output:
// <error>" to stderr and returns ExitRuntime.
func ReportSummary(stdout, stderr io.Writer, name, what, noun, dir string) int {
	n, err := countCommitted(dir)
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: count the committed output: %v\n", name, err)
		return ExitRuntime
	}
	if what != "" {
		fmt.Fprintf(stdout, "%s: %s; ", name, what)
	}
	fmt.Fprintf(stdout, "%d %s committed in %s\n", n, noun, dir)
	return ExitOK
}

// Checkpoints says how many checkpoints (savepoints included) the run of
// res completed and how many failed: "checkpoints: 3 completed, 0 failed".
func Checkpoints(res *engine.Result) string {
	return fmt.Sprintf("checkpoints: %d completed, %d failed", res.Completed, res.Failed)
}
