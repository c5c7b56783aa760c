// Package bpf loads Peregrine's eBPF capture program, attaches it to the
// running kernel, and reads its records and counters.
//
// The C source is c/capture.bpf.c, compiled with CO-RE against
// include/vmlinux.h (generated from this kernel's BTF by bpftool) by the
// pinned clang named in the Makefile, through bpf2go. The generated Go
// bindings and objects are committed; `make generate` rebuilds them and CI
// checks that the rebuild gives the same bytes.
package bpf

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -cflags ${BPF_CFLAGS} -target amd64 -type record -type syscall_desc -type socketcall_desc capture c/capture.bpf.c -- -I./include
