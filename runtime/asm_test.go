package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peregrine-sec/peregrine/bpf"
)

// Programs that make syscalls through the 32-bit (ia32) ABI, assembled by
// the test with binutils (as, ld), which the x86_64 toolchain ships with
// --32 support: a static i386 ELF, and a static x86_64 ELF that enters the
// kernel with int $0x80 (its data below 4 GiB, as the ia32 ABI needs).

// requireIA32 skips a test when the kernel runs no 32-bit code, and fails
// it in CI, where this machine's kernel must.
func requireIA32(t *testing.T) {
	t.Helper()
	if !bpf.IA32Enabled() {
		if os.Getenv("CI") != "" {
			t.Fatal("the kernel runs no 32-bit (ia32) syscalls; CI's kernel must")
		}
		t.Skip("the kernel runs no 32-bit (ia32) syscalls")
	}
}

// asmProgram assembles src (GNU as, AT&T syntax; it must define _start)
// into a static executable named name in dir. bits is 32 (an i386 ELF) or
// 64.
func asmProgram(t *testing.T, dir, name string, bits int, src string) string {
	t.Helper()
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s (binutils) is needed in CI: %v", tool, err)
			}
			t.Skipf("%s (binutils) not installed: %v", tool, err)
		}
	}
	asFlag, ldFlag := "--64", "elf_x86_64"
	if bits == 32 {
		asFlag, ldFlag = "--32", "elf_i386"
	}
	obj := filepath.Join(dir, name+".o")
	bin := filepath.Join(dir, name)
	srcPath := filepath.Join(dir, name+".s")
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"as", asFlag, "-o", obj, srcPath}, {"ld", "-m", ldFlag, "-static", "-o", bin, obj}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", strings.Join(args, " "), err, out, src)
		}
	}
	return bin
}

// ia32 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl) the
// programs use.
const (
	ia32Exit        = 1
	ia32Read        = 3
	ia32Write       = 4
	ia32Open        = 5
	ia32Creat       = 8
	ia32Unlink      = 10
	ia32Execve      = 11
	ia32Chmod       = 15
	ia32Setuid      = 23
	ia32Ptrace      = 26
	ia32Dup2        = 63
	ia32Socketcall  = 102
	ia32SigProcMask = 175 // rt_sigprocmask; 175 is init_module on x86_64
	ia32Symlink     = 83
	ia32Unshare     = 310
	ia32Openat      = 295
	ia32Execveat    = 358
	ia32MemfdCreate = 356
)

// prog32 is a program's text: data items and a body of instructions.
type prog32 struct {
	data []string // lines of the .data section
	body []string // instructions, run from _start
}

// str adds a NUL-terminated string labelled l.
func (p *prog32) str(l, s string) *prog32 {
	p.data = append(p.data, fmt.Sprintf("%s: .asciz %q", l, s))
	return p
}

// words adds 32-bit words labelled l (numbers or labels).
func (p *prog32) words(l string, w ...string) *prog32 {
	p.data = append(p.data, fmt.Sprintf("%s: .long %s", l, strings.Join(w, ", ")))
	return p
}

// call makes ia32 syscall nr with up to six arguments (in ebx, ecx, edx,
// esi, edi, ebp): immediates ("$5", "$label") or registers.
func (p *prog32) call(nr int, args ...string) *prog32 {
	regs := []string{"%ebx", "%ecx", "%edx", "%esi", "%edi", "%ebp"}
	for i, a := range args {
		p.body = append(p.body, fmt.Sprintf("movl %s, %s", a, regs[i]))
	}
	p.body = append(p.body, fmt.Sprintf("movl $%d, %%eax", nr), "int $0x80")
	return p
}

// ins adds instructions.
func (p *prog32) ins(s ...string) *prog32 { p.body = append(p.body, s...); return p }

// exit ends the program with status 0.
func (p *prog32) exit() *prog32 { return p.call(ia32Exit, "$0") }

// text is the program's source. The same instructions assemble for an
// i386 ELF and for an x86_64 one, which enters the kernel with the same
// int $0x80 and so the ia32 ABI (its data sits below 4 GiB, in a static
// executable linked at 0x400000).
func (p *prog32) text() string {
	var b strings.Builder
	b.WriteString("\t.data\n")
	for _, d := range p.data {
		b.WriteString(d + "\n")
	}
	b.WriteString("\t.bss\nbuf: .skip 65536\n")
	b.WriteString("\t.text\n\t.globl _start\n_start:\n")
	for _, s := range p.body {
		b.WriteString("\t" + s + "\n")
	}
	return b.String()
}
