package bpf

import "github.com/peregrine-sec/peregrine/syscalls"

// desc is the capture program's description of syscall s (struct
// syscall_desc), derived from its row of the syscall table: raw when the
// raw tracepoint programs capture it.
func desc(s *syscalls.Syscall, raw bool) captureSyscallDesc {
	l := s.Layout
	d := captureSyscallDesc{
		Wanted: 1, Path0: l.Path0, Path1: l.Path1, Sockaddr: l.Sockaddr, SockaddrLen: l.SockaddrLen,
		Fd: l.FD, Msghdr: l.Msghdr, OpenHow: l.OpenHow, Dirfd: l.DirFD, DirfdPath: l.DirFDPath,
		FlagsArg: l.FlagsArg,
	}
	for _, f := range []struct {
		set bool
		dst *uint8
	}{{l.AddrOut, &d.AddrOut}, {raw, &d.Raw}, {s.State, &d.State}, {s.JudgeExit, &d.JudgeExit}, {s.Creds, &d.Creds}, {l.Pwd, &d.Pwd},
		{s.PathFields() != nil && l.Path0 >= 0, &d.PathDim}} {
		if f.set {
			*f.dst = 1
		}
	}
	return d
}

// lookup returns the row of a syscall the capture can record.
func lookup(name string) (*syscalls.Syscall, bool) { return syscalls.Lookup(name) }
