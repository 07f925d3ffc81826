package snapshot

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// ResolvePath resolves rel, a FileRef.Path, against dir, the storage name of
// the directory that holds the _metadata file, and returns the storage name
// of the file.
//
// rel must be a clean, relative, slash-separated path that either stays
// inside dir or goes up exactly one level into the job's shared/ or
// taskowned/ directory ("../shared/..." or "../taskowned/..."); anything else
// (absolute paths, deeper escapes, empty or unclean paths) is rejected with
// an error wrapping ErrInvalidName; DecodeMetadata rejects such paths
// earlier as corruption. The result must stay inside the storage root.
func ResolvePath(dir, rel string) (string, error) {
	if err := checkRefPath(rel); err != nil {
		return "", fmt.Errorf("resolve %q: %w: %v", rel, ErrInvalidName, err)
	}
	name := path.Join(dir, rel)
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("resolve %q against %q: %w: %v", rel, dir, ErrInvalidName, err)
	}
	return name, nil
}

// checkRefPath validates a FileRef.Path as described on ResolvePath.
func checkRefPath(p string) error {
	switch {
	case p == "" || p == ".":
		return errors.New("empty path")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains a NUL byte")
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case path.Clean(p) != p:
		return errors.New("path is not clean")
	}
	rest, up := strings.CutPrefix(p, "../")
	if !up {
		if p == ".." {
			return errors.New("path escapes its directory")
		}
		return nil
	}
	if rest == ".." || strings.HasPrefix(rest, "../") {
		return errors.New("path escapes more than one level")
	}
	top, sub, ok := strings.Cut(rest, "/")
	if !ok || sub == "" || (top != sharedDirName && top != taskOwnedDirName) {
		return errors.New("path leaves its directory other than into ../shared/ or ../taskowned/")
	}
	return nil
}

// CheckName validates a storage name as every Storage must (see Storage):
// clean, relative, slash-separated, inside the root and not a temporary
// file name (TempPrefix). The error says what is wrong; stores wrap it in
// ErrInvalidName.
func CheckName(name string) error {
	switch {
	case name == "" || name == ".":
		return errors.New("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("name contains a NUL byte")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute name")
	case name == ".." || strings.HasPrefix(name, "../"):
		return errors.New("name escapes the storage root")
	case path.Clean(name) != name:
		return errors.New("name is not clean")
	case strings.HasPrefix(path.Base(name), TempPrefix):
		return fmt.Errorf("name uses the reserved prefix %q", TempPrefix)
	}
	return nil
}
