package bpf

import (
	"bytes"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/syscalls"
	"golang.org/x/sys/unix"
)

// View returns what the kernel filter knew of a syscall record when it
// judged it: the names and uid it read, the path it matched (when it
// could: an absolute, normalised, readable path of a syscall whose path
// the path dimension checks), the feature bits it computed and the ports
// of the socket. It is the capture program's judgement written in Go, for
// the emulator (compiler.Encoding.Emulate) to judge records exactly as the
// kernel did; TestKernelMatchesEmulator checks the two agree on live
// records. ok is false for a record of no captured syscall.
func (r *Record) View() (v compiler.View, ok bool) {
	row, ok := syscalls.ByNr(int(r.Syscall))
	if r.Kind != KindSyscall || !ok {
		return v, false
	}
	v = compiler.View{
		Syscall: row.Name,
		Comm:    r.CommString(), CommKnown: true,
		Parent: r.PCommString(), ParentKnown: true,
		UID: uint64(r.EUID), UIDKnown: true,
		ContainerKnown: r.Flags&FlagContainerKnown != 0, InContainer: r.Flags&FlagInContainer != 0,
	}
	path, pathRead := r.Str(0)
	pathRead = pathRead && r.Flags&FlagBlob0Truncated == 0
	absolute := pathRead && row.PathFields() != nil && row.Layout.Path0 >= 0 &&
		len(path) > 0 && path[0] == '/' && len(path) <= compiler.PathKeyMax
	if absolute && compiler.PathNormalized(path) {
		v.Path, v.PathKnown = path, true
	}
	v.Features, v.Unknown = r.features(row, absolute, path)
	if r.Flags&FlagHasSock != 0 && (r.Sock.Family == unix.AF_INET || r.Sock.Family == unix.AF_INET6) {
		v.LocalPort, v.LocalPortKnown = uint64(r.Sock.LocalPort), true
		if ra := r.Sock.RemoteAddr; ra.IsValid() && !ra.IsUnspecified() && r.Sock.RemotePort != 0 {
			v.RemotePort, v.RemotePortKnown = uint64(r.Sock.RemotePort), true
		}
	}
	return v, true
}

// features is the feature vector the capture program computes for the
// record (features() in the C), and the bits it does not know: "../" is
// known only when the path was scanned, which needs an absolute path the
// kernel could read whole.
func (r *Record) features(row *syscalls.Syscall, scanned bool, path string) (vec, unknown int) {
	if r.Ret < 0 {
		vec |= compiler.FeatFailed
	}
	flagsArg := row.Layout.FlagsArg
	if flagsArg < 0 {
		return vec, 0
	}
	flags := uint64(unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC)
	if flagsArg != syscalls.CreatFlags {
		flags = r.Args[flagsArg]
	}
	switch flags & unix.O_ACCMODE {
	case unix.O_WRONLY:
		vec |= compiler.FeatWrite
	case unix.O_RDWR:
		vec |= compiler.FeatRead | compiler.FeatWrite
	default:
		vec |= compiler.FeatRead
	}
	for _, f := range []struct {
		flag uint64
		bit  int
	}{{unix.O_TRUNC, compiler.FeatTrunc}, {unix.O_CREAT, compiler.FeatCreat}, {unix.O_APPEND, compiler.FeatAppend}, {unix.O_EXCL, compiler.FeatExcl}} {
		if flags&f.flag != 0 {
			vec |= f.bit
		}
	}
	if r.Ret >= 0 && r.File.FMode&FModeCreated != 0 {
		vec |= compiler.FeatCreated
	}
	if (r.Ret >= 0 && r.File.Mode&unix.S_IFMT == unix.S_IFDIR) || flags&unix.O_DIRECTORY != 0 {
		vec |= compiler.FeatDir
	}
	if !scanned {
		return vec, compiler.FeatDotDot
	}
	if bytes.Contains([]byte(path), []byte("../")) {
		vec |= compiler.FeatDotDot
	}
	return vec, 0
}
