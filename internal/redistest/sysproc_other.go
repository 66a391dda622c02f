//go:build !linux

package redistest

import "syscall"

// sysProcAttr is empty where the kernel cannot tie the child to the parent;
// the tests' cleanup still stops the server.
func sysProcAttr() *syscall.SysProcAttr { return nil }
