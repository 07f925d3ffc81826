package engine

import (
	"context"
	"path"
	"sync"

	"github.com/stated-io/stated/snapshot"
)

// writtenFiles is the storage a checkpoint or savepoint run writes its
// state files through: it records the name of every file created, so that
// an abort deletes exactly the files of this run and nothing another
// writer put beside them. It is safe for concurrent use (the subtasks'
// asynchronous phases write at once).
type writtenFiles struct {
	snapshot.Storage

	mu    sync.Mutex
	names []string
}

// Create implements snapshot.Storage. The name is recorded before the
// file is committed: a commit that fails may still have published it.
func (w *writtenFiles) Create(ctx context.Context, name string, opts snapshot.CreateOptions) (snapshot.FileWriter, error) {
	fw, err := w.Storage.Create(ctx, name, opts)
	if err == nil {
		w.mu.Lock()
		w.names = append(w.names, path.Clean(name))
		w.mu.Unlock()
	}
	return fw, err
}

// list returns the names created so far.
func (w *writtenFiles) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.names...)
}
