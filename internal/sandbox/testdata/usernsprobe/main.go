// Command usernsprobe tries to make a user namespace with clone(2) and clone3(2) and prints
// what the kernel said. (unshare(2) is the unshare command's: it refuses CLONE_NEWUSER to any
// multithreaded process, which a Go program always is.)
package main

import (
	"fmt"
	"syscall"
	"unsafe"
)

const sysClone3 = 435

func main() {
	pid, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, syscall.CLONE_NEWUSER|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	report("clone", pid, e)
	args := struct{ flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64 }{
		flags: syscall.CLONE_NEWUSER, exitSignal: uint64(syscall.SIGCHLD)}
	pid, _, e = syscall.RawSyscall(sysClone3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	report("clone3", pid, e)
}

func report(name string, pid uintptr, e syscall.Errno) {
	if e == 0 && pid == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0) // the child, in its own user namespace
	}
	if e != 0 {
		fmt.Printf("%s: refused: %v\n", name, e)
		return
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(int(pid), &ws, 0, nil)
	fmt.Printf("%s: made a user namespace\n", name)
}
