package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stated-io/stated/snapshot"
)

var _ snapshot.DirRenamer = (*Storage)(nil)

// RenameDir implements snapshot.DirRenamer with one rename(2), after which the
// parent directories are fsynced.
func (s *Storage) RenameDir(ctx context.Context, dir, newDir string) error {
	_, from, err := s.resolve(ctx, dir)
	if err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	_, to, err := s.resolve(ctx, newDir)
	if err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if err := checkDirExists(from); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, snapshot.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rename: %w", err)
	}
	if err := s.mkdirAll(filepath.Dir(to)); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if err := SyncDir(filepath.Dir(from)); err != nil {
		return err
	}
	if filepath.Dir(to) != filepath.Dir(from) {
		return SyncDir(filepath.Dir(to))
	}
	return nil
}

// checkDirExists returns an error wrapping snapshot.ErrNotExist, naming dir, if dir
// is not an existing directory.
func checkDirExists(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such directory: %w", dir, snapshot.ErrNotExist)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory: %w", dir, snapshot.ErrNotExist)
	}
	return nil
}
