package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestScratchCheck(t *testing.T) {
	dir := os.Getenv("SCRATCH_DIR")
	if dir == "" {
		t.Skip()
	}
	n, _ := strconv.Atoi(os.Getenv("SCRATCH_RECORDS"))
	checkExactlyOnce(t, expected(t, int64(n), 10*time.Second, 10*time.Second), committed(t, dir))
}
