package main

import (
	"context"
	"testing"
)

// TestQuickstart runs the example twice into one directory: the second run
// continues the checkpoint numbering and restores its own checkpoint.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		if err := run(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
	}
}
