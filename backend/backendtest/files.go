package backendtest

import (
	"os"
	"path/filepath"
	"testing"
)

// checkpointFile is one file of a checkpoint on local disk.
type checkpointFile struct {
	name string // relative to the checkpoint directory
	path string
}

func (f checkpointFile) read(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(f.path)
	must(t, err)
	return b
}

func (f checkpointFile) write(t testing.TB, b []byte) {
	t.Helper()
	must(t, os.WriteFile(f.path, b, 0o644))
}

// checkpointFiles lists the files of the checkpoint dir under root.
func checkpointFiles(t testing.TB, root, dir string) []checkpointFile {
	t.Helper()
	base := filepath.Join(root, filepath.FromSlash(dir))
	var files []checkpointFile
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(base, p)
		files = append(files, checkpointFile{name: filepath.ToSlash(rel), path: p})
		return err
	})
	must(t, err)
	return files
}
