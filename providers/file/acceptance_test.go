package file_test

import (
	"testing"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

func TestFileStorageAcceptance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) snapshot.Storage {
		s, err := file.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storagetest.Options{})
}
