package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// TestSnapshotCompression: execution.checkpointing.snapshot-compression is
// recorded in every non-SST handle and applied on restore.
func TestSnapshotCompression(t *testing.T) {
	for _, c := range []string{"none", "zstd", "s2"} {
		t.Run(c, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			run(t, countingJob(testConfig(t, dir, config.KeyCompression, c), 1000, out))
			store, err := file.New(filepath.Join(dir, "checkpoints"))
			if err != nil {
				t.Fatal(err)
			}
			_, md, err := snapshot.LatestCheckpoint(context.Background(), store, "test")
			if err != nil {
				t.Fatal(err)
			}
			handles := 0
			for _, op := range md.Operators {
				for _, st := range op.Subtasks {
					for _, h := range st.Keyed {
						handles++
						if h.Compression.String() != c {
							t.Fatalf("keyed handle of %s: compression %s, want %s", op.UID, h.Compression, c)
						}
					}
					for _, h := range st.Operator {
						handles++
						if h.Compression.String() != c {
							t.Fatalf("operator handle of %s: compression %s, want %s", op.UID, h.Compression, c)
						}
					}
				}
			}
			if handles == 0 {
				t.Fatal("no handles")
			}
			run(t, countingJob(testConfig(t, dir, config.KeyCompression, c, config.KeyParallelism, "3", config.KeyRecoveryPath, "latest"), 1000, out))
			checkCounts(t, out, 1000)
		})
	}
}
