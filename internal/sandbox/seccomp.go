package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// The sandbox's seccomp filter refuses new user namespaces: unshare(2) and clone(2) with
// CLONE_NEWUSER fail with EPERM, and clone3(2), whose flags sit in memory a classic BPF filter
// cannot read, fails with ENOSYS so that C libraries fall back to clone(2) (as Docker's and
// Flatpak's filters do). Everything else is allowed: this is not a system call policy, only the
// one refusal bwrap's --disable-userns cannot make when the server runs as root (it needs bwrap's
// own user namespace, which the root mode does not use; see bwrapArgs).
//
// A user namespace would give the command every capability inside it: the power to mount over
// its own view of the filesystem, to create network namespaces, and to reach kernel code that
// is otherwise root-only, which is where most kernel privilege escalations have been found.

// seccomp_data offsets (linux/seccomp.h): nr, arch, then the arguments as 64-bit words.
const (
	seccompDataNr    = 0
	seccompDataArch  = 4
	seccompDataArgs0 = 16 // the low half of args[0] on a little-endian machine
)

// Classic BPF opcodes (linux/filter.h) and seccomp return values.
const (
	bpfLdWAbs  = 0x00 | 0x00 | 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK    = 0x05 | 0x10 | 0x00 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK    = 0x05 | 0x30 | 0x00 // BPF_JMP | BPF_JGE | BPF_K
	bpfJsetK   = 0x05 | 0x40 | 0x00 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK    = 0x06 | 0x00        // BPF_RET | BPF_K
	retAllow   = 0x7fff0000
	retErrno   = 0x00050000
	x32SysBit  = 0x40000000
	cloneNewNS = 0x10000000 // CLONE_NEWUSER
)

// seccompArch is one system call ABI the kernel accepts from processes on this machine.
type seccompArch struct {
	audit                  uint32 // AUDIT_ARCH_*
	unshare, clone, clone3 uint32
	x32                    bool // x86-64: refuse the x32 ABI's system calls as well
}

// seccompArches lists, per GOARCH, every ABI a process may use there: a 64-bit kernel also
// takes 32-bit system calls (int 0x80, AArch32), with their own numbers.
var seccompArches = map[string][]seccompArch{
	"amd64": {
		{audit: 0xc000003e, unshare: 272, clone: 56, clone3: 435, x32: true}, // x86-64
		{audit: 0x40000003, unshare: 310, clone: 120, clone3: 435},           // i386
	},
	"arm64": {
		{audit: 0xc00000b7, unshare: 97, clone: 220, clone3: 435},  // AArch64
		{audit: 0x40000028, unshare: 337, clone: 120, clone3: 435}, // ARM EABI
	},
}

type bpfInsn struct {
	code   uint16
	jt, jf uint8
	k      uint32
	// Forward jump targets by label, resolved by assemble.
	tLabel, fLabel string
}

// userNSFilter returns the compiled filter for this machine's architecture, in the form bwrap's
// --seccomp reads (struct sock_filter[], native byte order), or nil when the architecture has
// no table here.
func userNSFilter() []byte {
	arches, ok := seccompArches[runtime.GOARCH]
	if !ok {
		return nil
	}
	var prog []bpfInsn
	labels := map[string]int{}
	label := func(name string) { labels[name] = len(prog) }
	emit := func(i bpfInsn) { prog = append(prog, i) }
	ret := func(v uint32) { emit(bpfInsn{code: bpfRetK, k: v}) }

	emit(bpfInsn{code: bpfLdWAbs, k: seccompDataArch})
	for i, a := range arches {
		next, flags := fmt.Sprintf("arch%d", i+1), fmt.Sprintf("flags%d", i)
		emit(bpfInsn{code: bpfJeqK, k: a.audit, fLabel: next})
		emit(bpfInsn{code: bpfLdWAbs, k: seccompDataNr})
		if a.x32 {
			emit(bpfInsn{code: bpfJgeK, k: x32SysBit, tLabel: "enosys"})
		}
		emit(bpfInsn{code: bpfJeqK, k: a.unshare, tLabel: flags})
		emit(bpfInsn{code: bpfJeqK, k: a.clone, tLabel: flags})
		emit(bpfInsn{code: bpfJeqK, k: a.clone3, tLabel: "enosys"})
		ret(retAllow)
		label(flags)
		emit(bpfInsn{code: bpfLdWAbs, k: seccompDataArgs0})
		emit(bpfInsn{code: bpfJsetK, k: cloneNewNS, tLabel: "eperm"})
		ret(retAllow)
		label(next)
	}
	// An ABI not listed above: nothing on this machine should use one.
	ret(retErrno | uint32(syscall.ENOSYS))
	label("enosys")
	ret(retErrno | uint32(syscall.ENOSYS))
	label("eperm")
	ret(retErrno | uint32(syscall.EPERM))

	out := make([]byte, 0, 8*len(prog))
	for pc, in := range prog {
		jt, jf := in.jt, in.jf
		for _, l := range []struct {
			name string
			dst  *uint8
		}{{in.tLabel, &jt}, {in.fLabel, &jf}} {
			if l.name == "" {
				continue
			}
			off := labels[l.name] - pc - 1
			if off < 0 || off > 255 {
				panic(fmt.Sprintf("sandbox: seccomp jump to %s out of range", l.name))
			}
			*l.dst = uint8(off)
		}
		out = binary.NativeEndian.AppendUint16(out, in.code)
		out = append(out, jt, jf)
		out = binary.NativeEndian.AppendUint32(out, in.k)
	}
	return out
}

// seccompFile returns a pipe holding filter, for bwrap's --seccomp to read to its end.
func seccompFile(filter []byte) (*os.File, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp pipe: %w", err)
	}
	// A few hundred bytes: far below the pipe's buffer, so this never blocks.
	_, err = wr.Write(filter)
	if cerr := wr.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("sandbox: seccomp pipe: %w", err)
	}
	return rd, nil
}
