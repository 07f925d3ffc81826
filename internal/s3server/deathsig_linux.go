package s3server

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the server when the process that
// started it dies (an interrupted benchmark run never gets to Close).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
