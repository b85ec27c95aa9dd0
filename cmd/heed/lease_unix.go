//go:build unix

package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// holderGone reports whether a lease holder ("HOST pid N") is a heed on
// this host whose process no longer exists: it crashed, and its lease need
// not be waited out. A holder on another host, or a pid in use, is taken
// as alive.
func holderGone(holder string) bool {
	host, pidText, ok := strings.Cut(holder, " pid ")
	if !ok || host != hostname() {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
