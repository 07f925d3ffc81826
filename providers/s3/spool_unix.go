//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package s3

import (
	"os"
	"syscall"
)

// tryLockFile takes an exclusive flock on f or fails at once if another
// open file holds one. The kernel drops it when f is closed or the
// process dies.
func tryLockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
