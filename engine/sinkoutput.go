package engine

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
)

// ErrUncoveredOutput is wrapped by the error of a start that the
// exactly-once file sink refuses: its output directory holds committed
// files that the restored snapshot does not cover (all of them on a start
// without a restore), so running would write their records again.
var ErrUncoveredOutput = errors.New("committed output not covered by the restored state")

// committedPart is the sink's durable record of what a snapshot covers:
// for one run and subtask of the sink, the highest sequence number of its
// part files closed at or before the snapshot's barrier. Every such file
// is committed, or pending in the snapshot and committed by its restore.
type committedPart struct {
	Run     string `json:"run"`
	Subtask int    `json:"subtask"`
	Seq     int64  `json:"seq"`
}

const committedPartsState = "committed-parts"

var committedPartSerializer = serializer.JSON[committedPart]{TypeName: "stated.engine.CommittedPart"}

// partKey names the part files of one run and subtask of the sink.
type partKey struct {
	run     string
	subtask int
}

// coverage is the set of committed part files a snapshot covers: per run
// and subtask, the highest sequence number.
type coverage map[partKey]int64

func newCoverage(parts []committedPart) coverage {
	c := coverage{}
	for _, p := range parts {
		c.add(partKey{p.Run, p.Subtask}, p.Seq)
	}
	return c
}

func (c coverage) add(k partKey, seq int64) {
	if old, ok := c[k]; !ok || seq > old {
		c[k] = seq
	}
}

func (c coverage) covers(f partFile) bool {
	high, ok := c[f.key]
	return ok && f.seq <= high
}

// record returns the coverage as state elements, in a stable order.
func (c coverage) record() []committedPart {
	out := make([]committedPart, 0, len(c))
	for k, seq := range c {
		out = append(out, committedPart{Run: k.run, Subtask: k.subtask, Seq: seq})
	}
	slices.SortFunc(out, func(a, b committedPart) int {
		return cmp.Or(strings.Compare(a.Run, b.Run), cmp.Compare(a.Subtask, b.Subtask))
	})
	return out
}

// partFile is a committed part file of the output directory.
type partFile struct {
	name string
	key  partKey
	seq  int64
	mod  time.Time
}

// parsePartName parses "part-<run>-<subtask>-<seq>", the name of a
// committed part file.
func parsePartName(name string) (partKey, int64, bool) {
	rest, ok := strings.CutPrefix(name, partPrefix)
	if !ok {
		return partKey{}, 0, false
	}
	fields := strings.Split(rest, "-")
	if len(fields) != 3 || fields[0] == "" {
		return partKey{}, 0, false
	}
	subtask, err1 := strconv.Atoi(fields[1])
	seq, err2 := strconv.ParseInt(fields[2], 10, 64)
	if err1 != nil || err2 != nil || subtask < 0 || seq < 0 {
		return partKey{}, 0, false
	}
	return partKey{fields[0], subtask}, seq, true
}

// committedParts lists the committed part files of dir.
func committedParts(dir string) ([]partFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []partFile
	for _, e := range entries {
		key, seq, ok := parsePartName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, partFile{name: e.Name(), key: key, seq: seq, mod: fi.ModTime()})
	}
	return out, nil
}

// recordedCoverage reports whether the restored sink state holds the
// committed-parts record: false for a snapshot written before it existed.
func recordedCoverage(r *restoreState) bool {
	for _, st := range r.op.Subtasks {
		for _, h := range st.Operator {
			for _, m := range h.States {
				if m.Name == committedPartsState {
					return true
				}
			}
		}
	}
	return false
}

// outputGuard checks a sink's output directory before the sink commits or
// removes anything in it: committed files that the restored snapshot does
// not cover are refused, moved aside or (from a snapshot without a record)
// adopted, as the configuration says.
type outputGuard struct {
	uid, run string
	dir      string        // absolute
	restore  *restoreState // nil on a start without a restore
	cfg      *config.Job
	logger   *slog.Logger
}

// check returns the coverage the sink goes on with.
func (g *outputGuard) check(cov coverage) (coverage, error) {
	files, err := committedParts(g.dir)
	if err != nil {
		return nil, err
	}
	var uncovered []partFile
	for _, f := range files {
		if !cov.covers(f) {
			uncovered = append(uncovered, f)
		}
	}
	if len(uncovered) == 0 {
		return cov, nil
	}
	newest := slices.MaxFunc(uncovered, func(a, b partFile) int { return cmp.Or(a.mod.Compare(b.mod), strings.Compare(a.name, b.name)) })
	newestName := filepath.Join(g.dir, newest.name)
	legacy := g.restore != nil && g.restore.op != nil && !recordedCoverage(g.restore)
	aside := filepath.Join(g.dir, "_uncovered-"+g.run)
	switch {
	case legacy && g.cfg.AdoptLegacyOutput:
		for _, f := range uncovered {
			cov.add(f.key, f.seq)
		}
		g.logger.Warn("the restored snapshot predates the sink's record of its output: every committed file is taken as covered by it (execution.state-recovery.adopt-legacy-output)",
			"sink", g.uid, "restored", g.restore.location, "files", len(uncovered), "newest", newestName)
		return cov, nil
	case g.cfg.UncoveredOutput == config.UncoveredOutputMoveAside:
		if err := moveAside(g.dir, aside, uncovered); err != nil {
			return nil, err
		}
		g.logger.Warn("committed output the restored state does not cover moved aside (execution.state-recovery.uncovered-output: MOVE_ASIDE); nothing was deleted",
			"sink", g.uid, "files", len(uncovered), "newest", newestName, "to", aside)
		return cov, nil
	}
	moveHint := fmt.Sprintf("set %s: %s to move them into %s", config.KeyUncoveredOutput, config.UncoveredOutputMoveAside, aside)
	switch {
	case g.restore == nil && g.cfg.RecoveryPath == "latest":
		return nil, fmt.Errorf("%w: %s already holds %d committed part file(s) (newest %s) and --restore latest found no restore point of the job in %s (its checkpoints were deleted, or never written), so it starts from the beginning, which would write their records again: restore a checkpoint or savepoint explicitly, use an empty output directory, or %s",
			ErrUncoveredOutput, g.dir, len(uncovered), newestName, g.cfg.CheckpointDir, moveHint)
	case g.restore == nil:
		return nil, fmt.Errorf("%w: %s already holds %d committed part file(s) (newest %s) and the job starts without a restore, which would write their records again: restore the job (--restore latest), use an empty output directory, or %s",
			ErrUncoveredOutput, g.dir, len(uncovered), newestName, moveHint)
	case legacy:
		return nil, fmt.Errorf("%w: the restored %s %s was written before the sink recorded which of its committed files a snapshot covers, so the %d committed part file(s) of %s (newest %s) may be written again: if the directory holds exactly the output of that snapshot (the newest one, nothing ran since), set %s: true; otherwise %s",
			ErrUncoveredOutput, g.restore.kind, g.restore.location, len(uncovered), g.dir, newestName, config.KeyAdoptLegacyOutput, moveHint)
	}
	return nil, fmt.Errorf("%w: %s holds %d committed part file(s) that the restored %s %s does not cover (newest %s): a newer checkpoint or another run committed them, and restoring would write their records again: restore the newest restore point (--restore latest), or %s",
		ErrUncoveredOutput, g.dir, len(uncovered), g.restore.kind, g.restore.location, newestName, moveHint)
}

// moveAside moves files of dir into the new directory aside, durably: the
// directory creation and every rename are fsynced.
func moveAside(dir, aside string, files []partFile) error {
	if err := os.Mkdir(aside, 0o755); err != nil {
		return fmt.Errorf("move aside: %w", err)
	}
	if err := file.SyncDir(dir); err != nil {
		return fmt.Errorf("move aside: %w", err)
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(dir, f.name), filepath.Join(aside, f.name)); err != nil {
			return fmt.Errorf("move aside: %w", err)
		}
	}
	if err := file.SyncDir(aside); err != nil {
		return fmt.Errorf("move aside: %w", err)
	}
	if err := file.SyncDir(dir); err != nil {
		return fmt.Errorf("move aside: %w", err)
	}
	return nil
}
