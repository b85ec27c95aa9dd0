//go:build linux

package main

import (
	"fmt"
	"os/exec"
	"syscall"
)

// mountTmpfs mounts a tmpfs of size bytes on dir: a disk of its own that
// the harness can fill without touching anyone else's.
func mountTmpfs(dir string, size int64) error {
	return syscall.Mount("heed-chaos", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
}

func unmount(dir string) error { return syscall.Unmount(dir, syscall.MNT_DETACH) }

// dieWithParent has the kernel kill heed if the harness dies first, so a
// crashed harness leaves no heed running.
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
