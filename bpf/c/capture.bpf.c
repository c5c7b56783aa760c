// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Peregrine's capture program. It judges each captured system call at its
// entry, where it also reads the syscall's user-memory inputs (paths,
// socket addresses) the way the kernel is about to use them, and records
// it at its exit with the return value; and it records the process
// lifecycle (fork, exec, exit) that userspace needs to keep its process
// table. Which syscalls are captured, under which numbers (x86_64 and
// ia32), and which of their arguments are paths, socket addresses or file
// descriptors, is set by userspace in the syscall_descs and compat_nrs
// maps, so this file knows no syscall numbers.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_SYSCALLS 512
#define MAX_COMPAT 512 /* ia32 syscall numbers below this */
#define MAX_SOCKETCALL 32
#define MASK_WORDS 4 /* 256 classes (compiler.MaskBits) */
#define BLOB_MAX 4096 /* PATH_MAX */
#define SOCKADDR_MAX 128
#define NAME_MAX_LEN 256 /* NAME_MAX + NUL */
#define NUM_BLOBS 8
/* A walk of d_parent ends at the root, or once its path fills BLOB_MAX:
 * with one-byte names, PATH_MAX holds this many components. */
#define PATH_DEPTH_MAX 2048
#define CGROUP_DEPTH_MAX 64

/* Record kinds. Every constant Go shares is checked equal to its Go twin
 * by bpf/constants_test.go. */
enum record_kind {
	RECORD_SYSCALL = 1,
	RECORD_FORK = 2,
	RECORD_EXEC = 3,
	RECORD_EXIT = 4,
};

/* Counter slots, in the order Probe.Counters reads them. */
enum counter {
	COUNTER_SEEN = 0,   /* syscalls the program ran for */
	COUNTER_SENT = 1,   /* records written to the ring buffer */
	COUNTER_LOST = 2,   /* records lost to a full ring buffer */
	COUNTER_FILTERED = 3,
	COUNTER_UNSAVED = 4, /* syscalls whose entry found no task storage: unrecorded */
	COUNTER_COMPAT = 5,  /* ia32 syscalls the program ran for */
	COUNTER_CONTAINER_FILTERED = 6, /* syscalls the container dimension dropped (counted in FILTERED too) */
	COUNTER_MAX = 7,
};

#define ARG_NONE -1
#define AT_FDCWD -100
#define ARG_RET 6 /* the return value, as an fd */
#define ARG_CWD 7 /* no dirfd argument: the path is relative to the cwd */
#define FLAGS_CREAT 7 /* creat(2): O_CREAT|O_WRONLY|O_TRUNC */
#define NR_NONE -1
#define NR_SOCKETCALL -2 /* compat_nrs: the ia32 socketcall multiplexer */

/* How to capture one syscall, by its x86_64 number. Filled by userspace
 * (bpf/syscalls.go). */
struct syscall_desc {
	__u8 wanted;
	__s8 path0;        /* arg holding a user string (path, name), or -1 */
	__s8 path1;        /* arg holding a second user string, or -1 */
	__s8 sockaddr;     /* arg holding a struct sockaddr *, or -1 */
	__s8 sockaddr_len; /* arg holding its length, or -1 */
	__s8 fd;           /* arg holding an fd to describe, ARG_RET, or -1 */
	__s8 msghdr;       /* arg holding a struct msghdr *, or -1 */
	__s8 open_how;     /* arg holding a struct open_how * (openat2), or -1 */
	__u8 raw;          /* captured by the raw tracepoint programs */
	__s8 dirfd;        /* arg holding the dirfd a path is relative to, ARG_CWD, or -1 */
	__u8 dirfd_path;   /* which path (0 or 1) dirfd is the base of */
	__u8 pwd;          /* record the working directory after the call (chdir) */
	__s8 flags_arg;    /* arg holding open flags, FLAGS_CREAT for creat, or -1 */
	__u8 path_dim;     /* path0 is the path dimension (fd.name of an open) */
	__u8 state;        /* the process table needs every record: never filtered */
	__u8 judge_exit;   /* exec: the names and uid are judged at the exit, as the syscall leaves them */
	__u8 creds;        /* the syscall changes the credentials: judge the uid at the exit */
	__u8 addr_out;     /* the socket address is an output (accept, recvfrom, recvmsg; its
			    * length arg a socklen_t *): read it at the exit */
};

/* An ia32 socketcall(call, args) multiplexed call: the x86_64 syscall it
 * is, and how many 32-bit arguments the kernel reads from args. */
struct socketcall_desc {
	__s32 nr;
	__u32 nargs;
};

/* The fixed part of every record; variable-length data follows it. The
 * layout is mirrored by bpf/record.go. */
struct record {
	__u64 ts; /* bpf_ktime_get_boot_ns */
	__u32 kind;
	__u32 size; /* whole record, header included */
	__s32 nr;   /* x86_64 syscall number, -1 for lifecycle records */
	__s32 abi_nr; /* the number as the task's ABI numbers it (ia32 for compat) */
	__u32 pid;  /* tgid */
	__u32 tid;
	__u32 ppid; /* real_parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 loginuid;
	__u32 plan; /* the filter plan (filter_ctl.gen) that judged the record */
	__s64 ret;
	__u64 cgroup_id;
	__u64 cgroup_key; /* identity of the task's set of cgroups (css_set) */
	__u64 cgroup_v1_id; /* kernfs id of its first controller's cgroup that is not a root (0: none) */
	__u32 pidns;
	__u32 mntns;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u64 args[6];
	/* The file behind the described fd (desc.fd), when there is one. */
	__u64 ino;
	__u32 dev;
	__u32 i_mode;
	__u32 f_mode;
	__u32 f_flags;
	/* The socket behind it, when it is one. Ports in host order. */
	__u16 sk_family;
	__u16 sk_type;
	__u16 sk_protocol;
	__u16 sport; /* local */
	__u16 dport; /* remote */
	__u16 len[NUM_BLOBS]; /* lengths of the blobs that follow */
	__u8 saddr[16];
	__u8 daddr[16];
	/* Flags: which reads failed (a failed read means unknown, not empty). */
	__u32 flags;
	__u32 vpid; /* pid in its own pid namespace */
	__u32 exe_flags; /* exec records: EXE_* of the executable */
	__u32 cgroup_gen; /* cgroup renames seen (cgroup_gen) when the cgroup ids were read */
	char comm[16];  /* the task's name as the filter judged it: the name taken at exec */
	char pcomm[16]; /* the parent's, likewise */
	__u64 mask[MASK_WORDS]; /* the filter classes the record satisfied */
};

#define FLAG_BLOB0_FAILED (1 << 0)
#define FLAG_BLOB1_FAILED (1 << 1)
#define FLAG_BLOB2_FAILED (1 << 2)
#define FLAG_BLOB0_TRUNCATED (1 << 3)
#define FLAG_BLOB1_TRUNCATED (1 << 4)
#define FLAG_HAS_FILE (1 << 5)
#define FLAG_HAS_SOCK (1 << 6)
#define FLAG_PATH_INCOMPLETE (1 << 7) /* blob 2's path walk stopped short */
#define FLAG_CWD_INCOMPLETE (1 << 8)  /* blob 3's path walk stopped short */
#define FLAG_COMPAT (1 << 9)          /* a 32-bit (ia32) syscall */
#define FLAG_DIR (1 << 10)            /* blob 3 holds a walked directory (none: the root) */
#define FLAG_CGROUP_INCOMPLETE (1 << 11) /* a cgroup walk (blobs 4, 5) stopped short */
#define FLAG_CGROUPS (1 << 12)        /* blobs 4 and 5 hold the cgroup paths (v2, v1) */
#define FLAG_SOCKETCALL (1 << 13)     /* an ia32 socketcall: args are the multiplexed call's */
#define FLAG_ENV_FAILED (1 << 14)     /* the environment (blob 6 of an exec record) was unreadable */
#define FLAG_FORKED (1 << 15)         /* an exec record of a process whose fork record was never sent: args[1] its parent, args[2] its start */
#define FLAG_DEFERRED (1 << 16)       /* a fork record sent late, from the child, before its first record: args[1] its start */
#define FLAG_CONTAINER_KNOWN (1 << 17) /* the filter knew whether the task is in a container */
#define FLAG_IN_CONTAINER (1 << 18)    /* ... and it is */

/* The per-CPU scratch: the record being built and its data. The data area
 * has BLOB_MAX bytes of slack past DATA_MAX so that a read of up to
 * BLOB_MAX bytes at any offset below DATA_MAX stays inside it. */
#define DATA_MAX (8 * BLOB_MAX)
#define DATA_MASK (DATA_MAX - 1)
#define ENTRY_MAX (4 * BLOB_MAX) /* what the entry reads: two paths, an address, a directory */
#define ENTRY_MASK (ENTRY_MAX - 1)

/* The state of a path walk (read_dpath, read_cgroup). It lives in the
 * scratch, a map value, rather than on the stack: the verifier tracks
 * stack values exactly, and a walk's offset, growing at every step, would
 * keep it from ever finding two iterations alike. */
struct walk_ctx {
	/* Kernel pointers, as numbers: struct dentry * or struct
	 * kernfs_node *, struct vfsmount *, struct mount *. */
	__u64 d;
	__u64 vm;
	__u64 m;
	__u32 off;
	__u32 end;  /* the walk stops before writing past this offset */
	__u32 done; /* the walk reached the root */
};

/* The record as sent: its data follows the header. */
struct scratch {
	struct record r;
	char data[DATA_MAX + BLOB_MAX];
	struct walk_ctx walk; /* not sent */
};

#define PENDING_NONE -1 /* nr of an empty slot */

#define DOTDOT_KNOWN 1
#define DOTDOT_SEEN 2

/* What Peregrine keeps per task, in the task's local storage: no hashing
 * or locking, and freed with the task. */
struct task_state {
	/* The name the task took at its last exec, inherited by the tasks it
	 * creates, and pinned when the task renames itself (prctl
	 * PR_SET_NAME, /proc/self/comm): Falco's proc.name. */
	char name[16];
	__u32 name_known;
	/* The pending syscall: nr (x86_64) and abi_nr as the entry saw them,
	 * PENDING_NONE when there is none to record. */
	__s32 nr;
	__s32 abi_nr;
	__u32 flags; /* record flags the entry set */
	__u16 len[4]; /* the entry's blobs, kept in task_blobs */
	__u32 dotdot;
	__u64 args[6];
	/* What the filter judged at the entry: the record carries these, so
	 * userspace sees the values the kernel saw (a parent can change while
	 * a syscall blocks). */
	__u32 euid;
	char comm[16];
	char pcomm[16];
	/* The classes the entry left (judged set), under plan number plan
	 * (filter_ctl.gen: its low bit is the maps' generation, the rest tells
	 * plans of the same generation apart). */
	__u32 plan;
	__u32 judged;
	__u64 mask[MASK_WORDS];
	__u32 container; /* CONTAINER_*: what the entry knew of the task's cgroups */
	/* container_dim's cache: the class of the task's cgroups (cset) in
	 * epoch cls_epoch (see cgroup_epoch); none while cls_cset is 0. */
	__u32 cls;
	__u64 cls_cset;
	__u64 cls_epoch;
	/* A new process whose fork record is not sent yet: it is sent (or
	 * folded into the exec record) before the process's first record,
	 * and never when the process has none. */
	__u32 fork_pending;
	__u32 fork_parent;
	__u64 fork_start; /* start_boottime */
	/* comm_verdict's cache. */
	__u32 cache_plan;
	__u32 cache_valid;
	char cache_comm[16];
	char cache_pcomm[16];
	__u64 cache_mask[MASK_WORDS];
};

/* The user-memory inputs the entry read (blobs 0-3), kept until the exit:
 * a task may sleep in between and the per-CPU scratch is reused. Created
 * for a task the first time one of its syscalls passes the entry. */
struct task_blobs {
	char data[ENTRY_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct syscall_desc);
} syscall_descs SEC(".maps");

/* ia32 syscall number -> x86_64 number (NR_NONE: not captured;
 * NR_SOCKETCALL: the socketcall multiplexer). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_COMPAT);
	__type(key, __u32);
	__type(value, __s32);
} compat_nrs SEC(".maps");

/* raw_ids says, by the number a raw tracepoint sees, whether the raw
 * programs capture a syscall of that number: RAW_NATIVE for an x86_64
 * one, RAW_COMPAT for an ia32 one. Any other syscall leaves them at the
 * first instruction that reads memory: most syscalls of a machine are
 * none of the rules' business. */
#define RAW_NATIVE 1
#define RAW_COMPAT 2
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_COMPAT);
	__type(key, __u32);
	__type(value, __u8);
} raw_ids SEC(".maps");

static __always_inline __u8 raw_id(long id)
{
	if (id < 0 || id >= MAX_COMPAT)
		return 0;
	__u32 k = id;
	__u8 *b = bpf_map_lookup_elem(&raw_ids, &k);
	return b ? *b : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SOCKETCALL);
	__type(key, __u32);
	__type(value, struct socketcall_desc);
} socketcalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_blobs);
} task_blobs SEC(".maps");

/* One scratch per CPU, indexed by CPU: a plain array, as a per-CPU
 * array's values are limited to 32 KiB. Userspace sets max_entries to the
 * number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The size is set by userspace at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* The pid of Peregrine itself: its own syscalls are not captured, so the
 * engine does not feed on the events it causes. */
const volatile __u32 self_tgid = 0;

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);
	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch_buf, &cpu);
}

/* Containers in the filter. The kernel knows a task's cgroups by their
 * kernfs ids, which it never reuses: the pair of its v2 cgroup and its
 * first controller's cgroup that is not a root, the two read_cgroups
 * walks. Userspace classifies each pair from a walk of its paths (a record
 * with FLAG_CGROUPS) as host or container into cgroup_classes; a pair not
 * classified yet is unknown and satisfies every class. cgroup v1 lets a
 * cgroup be renamed: each rename bumps cgroup_gen, and a classification
 * made from a walk under another generation is unknown.
 *
 * Each task keeps its class with the css_set it was found for, valid for
 * one epoch: the kernel's count of migrations and renames (the tracepoints
 * below) and userspace's count of classes written, in two slots each side
 * bumps alone. A css_set freed and another allocated at its address thus
 * never passes for the old one, nor an unknown class for a known one. */
#define CONTAINER_UNKNOWN 0
#define CONTAINER_HOST 1
#define CONTAINER_IN 2
#define CGROUP_CLASSES 16384

struct cgroup_pair {
	__u64 v2;
	__u64 v1;
};

struct cgroup_class {
	__u32 gen;
	__u32 container; /* CONTAINER_HOST or CONTAINER_IN */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CGROUP_CLASSES);
	__type(key, struct cgroup_pair);
	__type(value, struct cgroup_class);
} cgroup_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_gen SEC(".maps");

static __always_inline __u32 cgroup_generation(void)
{
	__u32 zero = 0;
	__u32 *g = bpf_map_lookup_elem(&cgroup_gen, &zero);
	return g ? *g : 0;
}

#define EPOCH_KERNEL 0 /* cgroup_epoch slots: bumped by the kernel */
#define EPOCH_USER 1   /* ... and by userspace */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_epoch SEC(".maps");

static __always_inline __u64 cgroup_epoch_now(void)
{
	__u32 k = EPOCH_KERNEL, u = EPOCH_USER;
	__u32 *kv = bpf_map_lookup_elem(&cgroup_epoch, &k);
	__u32 *uv = bpf_map_lookup_elem(&cgroup_epoch, &u);
	return ((__u64)(kv ? *kv : 0) << 32) | (uv ? *uv : 0);
}

static __always_inline void bump(void *map, __u32 slot)
{
	__u32 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* first_v1_cgroup returns the cgroup of cset's first controller that is
 * not its hierarchy's root (on hybrid hosts containers show up in the v1
 * hierarchies), or NULL. Loads, not probe reads: the filter asks for every
 * syscall it judges while a rule checks containers. */
static __always_inline struct cgroup *first_v1_cgroup(struct css_set *cset)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i >= bpf_core_field_size(cset->subsys) / sizeof(void *))
			break;
		struct cgroup_subsys_state *css = cset->subsys[i];
		if (!css)
			continue;
		struct cgroup *cg = css->cgroup;
		if (cg && cg->level != 0)
			return cg;
	}
	return NULL;
}

static __always_inline void cgroup_pair_of(struct css_set *cset, struct cgroup_pair *k)
{
	k->v2 = cset->dfl_cgrp->kn->id;
	struct cgroup *cg = first_v1_cgroup(cset);
	k->v1 = cg ? cg->kn->id : 0;
}

/* container_class returns what userspace classified the task whose
 * cgroups are cset as: CONTAINER_HOST, CONTAINER_IN or CONTAINER_UNKNOWN. */
static __always_inline __u32 container_class(struct css_set *cset)
{
	struct cgroup_pair k;
	cgroup_pair_of(cset, &k);
	struct cgroup_class *c = bpf_map_lookup_elem(&cgroup_classes, &k);
	if (!c || c->gen != cgroup_generation())
		return CONTAINER_UNKNOWN;
	return c->container;
}

/* task_name copies the exec-time name of task t (its state, st, when it
 * has one) into name: the live comm when Peregrine has not seen it take
 * one. */
static __always_inline void task_name(struct task_struct *t, struct task_state *st, char name[16])
{
	if (st && st->name_known) {
		__builtin_memcpy(name, st->name, 16);
		return;
	}
	/* A helper, not loads: the compiler would otherwise share one load
	 * between the two sources, which the verifier refuses. Rare: a task
	 * is pinned the first time it is seen. */
	bpf_probe_read_kernel(name, 16, t->comm);
}

/* get_state returns current's state, created (with the name pinned to
 * the live comm, as first seen) when create and it has none. */
static __always_inline struct task_state *get_state(struct task_struct *t, bool create)
{
	struct task_state *st = bpf_task_storage_get(&task_states, t, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (st && !st->name_known) {
		__builtin_memcpy(st->name, t->comm, 16);
		st->name_known = 1;
		st->nr = PENDING_NONE;
	}
	return st;
}

/* read_names fills the names the filter judges: the task's and its
 * parent's, as taken at their execs. */
static __always_inline void read_names(struct task_struct *t, struct task_state *st, char comm[16], char pcomm[16])
{
	task_name(t, st, comm);
	struct task_struct *parent = t->real_parent;
	struct task_state *pst = bpf_task_storage_get(&task_states, parent, 0, 0);
	task_name(parent, pst, pcomm);
}

/* in_compat reports whether current is in a 32-bit syscall (x86's
 * in_ia32_syscall: TS_COMPAT in the thread's status). */
#define TS_COMPAT 0x0002
static __always_inline bool in_compat(struct task_struct *t)
{
	return t->thread_info.status & TS_COMPAT;
}

/* fill_rest fills the record's other task fields, once it is to be sent.
 * The timestamp is the caller's: taken when its program starts, as
 * Falco's driver takes it, not after the work of building the record. */
static __always_inline void fill_rest(struct record *r)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->ppid = t->real_parent->tgid;
	const struct cred *c = t->cred;
	r->uid = c->uid.val;
	r->gid = c->gid.val;
	if (bpf_core_field_exists(t->loginuid))
		r->loginuid = t->loginuid.val;
	else
		r->loginuid = (__u32)-1;
	r->cap_effective = c->cap_effective.val;
	r->cap_permitted = c->cap_permitted.val;
	r->cap_inheritable = c->cap_inheritable.val;
	/* The generation first: a rename after it voids what the ids say. */
	r->cgroup_gen = cgroup_generation();
	struct css_set *cset = t->cgroups;
	struct cgroup_pair k;
	cgroup_pair_of(cset, &k);
	r->cgroup_id = k.v2; /* bpf_get_current_cgroup_id */
	r->cgroup_v1_id = k.v1;
	r->cgroup_key = (__u64)cset;
	struct nsproxy *ns = t->nsproxy;
	if (ns) {
		r->pidns = ns->pid_ns_for_children->ns.inum;
		r->mntns = ns->mnt_ns->ns.inum;
	}
	/* The pid as the task's own namespace numbers it: thread_pid->numbers[level]. */
	struct pid *tp = t->thread_pid;
	unsigned int level = tp->level;
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &tp->numbers[level & 31]);
	r->vpid = up.nr;
}

/* fill_task fills a lifecycle record's task fields. */
static __always_inline void fill_task(struct record *r)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_state *st = bpf_task_storage_get(&task_states, t, 0, 0);
	read_names(t, st, r->comm, r->pcomm);
	r->euid = t->cred->euid.val;
	fill_rest(r);
}

/* bpf_rdonly_cast (kernel/bpf/helpers.c) turns a kernel address into a
 * read-only BTF pointer: the fields behind it are then plain loads, which
 * the JIT guards, rather than a probe-read helper call each. */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym;

static __always_inline struct file *fd_file(int fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	return f;
}

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10

static __always_inline void describe_fd(struct record *r, int fd)
{
	struct file *addr = fd_file(fd);
	if (!addr)
		return;
	struct file *f = bpf_rdonly_cast(addr, bpf_core_type_id_kernel(struct file));
	struct inode *ino = f->f_inode;
	r->flags |= FLAG_HAS_FILE;
	r->ino = ino->i_ino;
	r->dev = ino->i_sb->s_dev;
	r->i_mode = ino->i_mode;
	r->f_mode = f->f_mode;
	r->f_flags = f->f_flags;
	if ((r->i_mode & S_IFMT) != S_IFSOCK)
		return;
	struct socket *sock = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
	struct sock *sk = sock->sk;
	if (!sk)
		return;
	r->flags |= FLAG_HAS_SOCK;
	r->sk_family = sk->__sk_common.skc_family;
	r->sk_type = sk->sk_type;
	r->sk_protocol = sk->sk_protocol;
	r->sport = sk->__sk_common.skc_num;
	r->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (r->sk_family == AF_INET) {
		__be32 saddr = sk->__sk_common.skc_rcv_saddr;
		__be32 daddr = sk->__sk_common.skc_daddr;
		__builtin_memcpy(r->saddr, &saddr, sizeof(saddr));
		__builtin_memcpy(r->daddr, &daddr, sizeof(daddr));
	} else if (r->sk_family == AF_INET6) {
		struct in6_addr saddr = sk->__sk_common.skc_v6_rcv_saddr;
		struct in6_addr daddr = sk->__sk_common.skc_v6_daddr;
		__builtin_memcpy(r->saddr, &saddr, sizeof(saddr));
		__builtin_memcpy(r->daddr, &daddr, sizeof(daddr));
	}
}

/* read_str copies a user string into the data area at off, returning the
 * bytes written (with the NUL) and setting failure flags. */
static __always_inline __u32 read_str(struct scratch *s, __u32 off, const void *src, __u32 failed, __u32 truncated)
{
	if (off > DATA_MAX - BLOB_MAX)
		return 0;
	long n = bpf_probe_read_user_str(&s->data[off], BLOB_MAX, src);
	if (n <= 0) {
		s->r.flags |= failed;
		return 0;
	}
	if (n == BLOB_MAX)
		s->r.flags |= truncated;
	return n & (BLOB_MAX * 2 - 1);
}

static __always_inline __u32 read_sockaddr(struct scratch *s, __u32 off, const void *src, __u64 len)
{
	if (off > DATA_MAX - SOCKADDR_MAX)
		return 0;
	if (len > SOCKADDR_MAX)
		len = SOCKADDR_MAX;
	if (len == 0 || !src)
		return 0;
	if (bpf_probe_read_user(&s->data[off], len & (SOCKADDR_MAX - 1 + SOCKADDR_MAX), src) < 0) {
		s->r.flags |= FLAG_BLOB2_FAILED;
		return 0;
	}
	return len;
}

/* walk_step is one step of read_dpath, run by bpf_loop so that the
 * verifier checks the body once rather than once per iteration. */
static long walk_step(__u32 i, void *unused)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	struct walk_ctx *w = &s->walk;
	/* Locals, not w->..., inside BPF_CORE_READ: the macro would relocate
	 * the walk_ctx access too, and the kernel has no such type. */
	struct dentry *d = (struct dentry *)w->d;
	struct vfsmount *vm = (struct vfsmount *)w->vm;
	struct mount *m = (struct mount *)w->m;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct dentry *root = BPF_CORE_READ(vm, mnt_root);
	bool pseudo = d == parent && d != root;
	if (!pseudo && (d == root || d == parent)) {
		struct mount *up = BPF_CORE_READ(m, mnt_parent);
		if (up == m || !up) {
			w->done = 1; /* the root of the tree */
			return 1;
		}
		w->d = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		w->m = (__u64)up;
		w->vm = (__u64)__builtin_preserve_access_index(&up->mnt);
		return 0;
	}
	__u32 off = w->off, end = w->end;
	if (off > DATA_MAX - NAME_MAX_LEN || off >= end)
		return 1;
	/* The last component may take what is left of the blob. */
	__u32 room = end - off;
	if (room > NAME_MAX_LEN)
		room = NAME_MAX_LEN;
	if (room < 2)
		return 1;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], room, name);
	if (n <= 0 || (n == room && room < NAME_MAX_LEN))
		return 1; /* unreadable, or cut short: the walk is incomplete */
	w->off = off + n;
	if (pseudo) {
		/* A pseudo or disconnected dentry (memfd, anonymous files): its
		 * own parent and not a mount's root. Its name is the whole
		 * path ("memfd:NAME"): write it and stop. */
		w->done = 1;
		return 1;
	}
	w->d = (__u64)parent;
	return 0;
}

/* read_dpath writes a path (dentry and mount) as its components, leaf
 * first, each NUL-terminated, walking d_parent up to the root and crossing
 * mount points as d_path does (fs/d_path.c): tracepoints may not call
 * bpf_d_path. The root itself has no component. It writes at most
 * BLOB_MAX bytes, returns the bytes written, and sets incomplete in the
 * record's flags when the walk did not reach the root. */
static __always_inline __u32 read_dpath(struct scratch *s, __u32 off, struct dentry *d, struct vfsmount *vm, __u32 incomplete)
{
	s->walk.d = (__u64)d;
	s->walk.vm = (__u64)vm;
	/* container_of, with the offset relocated by CO-RE. */
	s->walk.m = (__u64)vm - bpf_core_field_offset(struct mount, mnt);
	s->walk.off = off;
	s->walk.end = off + BLOB_MAX;
	s->walk.done = 0;
	bpf_loop(PATH_DEPTH_MAX, walk_step, NULL, 0);
	if (!s->walk.done)
		s->r.flags |= incomplete;
	__u32 n = s->walk.off - off;
	return n > BLOB_MAX ? 0 : n;
}

/* read_cwd writes the current task's working directory as blob 3. */
static __always_inline __u32 read_cwd(struct scratch *s, __u32 off)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct dentry *d = BPF_CORE_READ(t, fs, pwd.dentry);
	struct vfsmount *vm = BPF_CORE_READ(t, fs, pwd.mnt);
	__u32 n = read_dpath(s, off & DATA_MASK, d, vm, FLAG_CWD_INCOMPLETE);
	s->r.len[3] = n;
	s->r.flags |= FLAG_DIR;
	return n;
}

/* kernfs_node's parent became __parent in Linux 6.15. */
struct kernfs_node___old {
	struct kernfs_node *parent;
};

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

static long cgroup_step(__u32 i, void *unused)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	struct walk_ctx *w = &s->walk;
	struct kernfs_node *kn = (struct kernfs_node *)w->d;
	struct kernfs_node *parent = kn_parent(kn);
	if (!parent) {
		w->done = 1; /* the hierarchy's root has no name in the path */
		return 1;
	}
	__u32 off = w->off;
	if (off > DATA_MAX - NAME_MAX_LEN || off + NAME_MAX_LEN > w->end)
		return 1;
	const char *name = BPF_CORE_READ(kn, name);
	long n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], NAME_MAX_LEN, name);
	if (n <= 0)
		return 1;
	w->off = off + n;
	w->d = (__u64)parent;
	return 0;
}

/* read_cgroup writes the path of cgroup cg in its hierarchy (components
 * leaf first, as read_dpath), returning the bytes written. */
static __always_inline __u32 read_cgroup(struct scratch *s, __u32 off, struct cgroup *cg)
{
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	if (!kn)
		return 0;
	s->walk.d = (__u64)kn;
	s->walk.off = off;
	s->walk.end = off + BLOB_MAX;
	s->walk.done = 0;
	bpf_loop(CGROUP_DEPTH_MAX, cgroup_step, NULL, 0);
	if (!s->walk.done)
		s->r.flags |= FLAG_CGROUP_INCOMPLETE;
	__u32 n = s->walk.off - off;
	return n > BLOB_MAX ? 0 : n;
}

/* read_cgroups writes the cgroups of a task, cset, as blobs 4 and 5: its
 * cgroup in the default (v2) hierarchy, and first_v1_cgroup's. Container
 * runtimes put a container's processes into cgroups named for the
 * container. For the record's own task (own), the record's cgroup ids and
 * generation are set from the same cset, so that userspace classifies the
 * pair the paths belong to. */
static __always_inline __u32 read_cgroups(struct scratch *s, __u32 off, struct css_set *cset, bool own)
{
	if (!cset)
		return 0;
	if (own) {
		s->r.cgroup_gen = cgroup_generation();
		struct cgroup_pair k;
		cgroup_pair_of(cset, &k);
		s->r.cgroup_id = k.v2;
		s->r.cgroup_v1_id = k.v1;
		s->r.cgroup_key = (__u64)cset;
	}
	s->r.flags |= FLAG_CGROUPS;
	__u32 n = read_cgroup(s, off & DATA_MASK, cset->dfl_cgrp);
	s->r.len[4] = n;
	off += n;
	struct cgroup *cg = first_v1_cgroup(cset);
	if (!cg)
		return n;
	__u32 m = read_cgroup(s, off & DATA_MASK, cg);
	s->r.len[5] = m;
	return n + m;
}

/* task_container returns the class of current's cgroups, cset, from its
 * state p's cache when it holds them for this epoch (see cgroup_epoch). */
static __always_inline __u32 task_container(struct task_state *p, struct css_set *cset)
{
	__u64 epoch = cgroup_epoch_now(); /* before the class: a later bump voids it */
	if (p->cls_cset == (__u64)cset && p->cls_epoch == epoch)
		return p->cls;
	__u32 c = container_class(cset);
	p->cls_cset = (__u64)cset;
	p->cls_epoch = epoch;
	p->cls = c;
	return c;
}

/* report_cgroups adds the cgroup walk to a syscall record of current
 * (state p) whose cgroups are not classified (blobs 4 and 5 after off, the
 * bytes used so far), for userspace to classify them; it returns the bytes
 * used. A global function, as read_inputs. */
__noinline __u32 report_cgroups(struct scratch *s, struct task_state *p, __u32 off)
{
	if (!s || !p)
		return off;
	struct css_set *cset = bpf_get_current_task_btf()->cgroups;
	if (task_container(p, cset) != CONTAINER_UNKNOWN || off > DATA_MAX - 2 * BLOB_MAX)
		return off;
	return off + read_cgroups(s, off, cset, true);
}

static __always_inline __u64 arg_at(const __u64 *args, __s8 i)
{
	if (i < 0 || i > 5)
		return 0;
	return args[i & 7];
}

/* Waking the reader for every record costs a cross-CPU wakeup per event;
 * the reader also polls on a short timer, so wake it only once this much
 * has been written on this CPU since its last wakeup. A per-CPU count:
 * asking the ring buffer how much is waiting (bpf_ringbuf_query) reads
 * the position the reader writes on the other CPU, a cache miss that cost
 * more than the record's copy. */
const volatile __u64 wakeup_bytes = 65536;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwoken_bytes SEC(".maps");

/* wake_flags accounts size more bytes written and says whether to wake
 * the reader now. */
static __always_inline __u64 wake_flags(__u32 size)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u32 zero = 0;
	__u64 *unwoken = bpf_map_lookup_elem(&unwoken_bytes, &zero);
	if (unwoken) {
		*unwoken += size;
		if (*unwoken >= wakeup_bytes) {
			*unwoken = 0;
			flags = BPF_RB_FORCE_WAKEUP;
		}
	}
	return flags;
}

/* Exits are sent in batches: a dead process's table entry only has to go
 * before the table grows, and a pid the kernel gives again comes with its
 * fork record first, so a late exit (which names the start time too)
 * cannot remove the new process. A batch waits on its CPU until it is full,
 * or until the CPU sends a record (or another exit) once its first exit
 * has waited EXIT_WAIT_NS: sent before that record, it stays behind the
 * exited processes' own records. */
#define EXIT_BATCH 32
#define EXIT_WAIT_NS (200 * 1000 * 1000ULL)

struct exit_entry {
	__u32 pid;
	__u32 pad;
	__u64 start;
};

struct exit_batch {
	__u32 n;
	__u32 pad;
	__u64 first; /* boot ns of its first exit */
	struct exit_entry e[EXIT_BATCH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exit_batch);
} exit_batches SEC(".maps");

/* An exit record as sent: the header, then the batch's entries. */
struct exit_record {
	struct record r;
	struct exit_entry e[EXIT_BATCH];
};

/* flush_exits sends this CPU's batch of exits when it is full or its
 * first exit has waited long enough (at time now). It reserves ring-buffer
 * space of its own: the scratch may hold a record being built. A global
 * function: emit, inlined everywhere, only calls it. */
__noinline int flush_exits(__u64 now)
{
	__u32 zero = 0;
	struct exit_batch *b = bpf_map_lookup_elem(&exit_batches, &zero);
	if (!b)
		return 0;
	__u32 n = b->n;
	if (n == 0 || n > EXIT_BATCH || (n < EXIT_BATCH && now - b->first < EXIT_WAIT_NS))
		return 0;
	b->n = 0;
	struct exit_record *x = bpf_ringbuf_reserve(&events, sizeof(struct exit_record), 0);
	if (!x) {
		count(COUNTER_LOST);
		return 0;
	}
	__builtin_memset(&x->r, 0, sizeof(x->r));
	x->r.ts = now;
	x->r.kind = RECORD_EXIT;
	x->r.nr = -1;
	x->r.abi_nr = -1;
	/* blob0: the batch's (pid, pad, start) entries. */
	x->r.len[0] = n * sizeof(struct exit_entry);
	x->r.size = sizeof(struct record) + n * sizeof(struct exit_entry);
	__builtin_memcpy(x->e, b->e, sizeof(x->e));
	bpf_ringbuf_submit(x, wake_flags(sizeof(struct exit_record)));
	count(COUNTER_SENT);
	return 0;
}

static __always_inline void emit(struct scratch *s, __u32 data_len)
{
	flush_exits(bpf_ktime_get_boot_ns());
	__u32 size = sizeof(struct record) + data_len;
	if (size > sizeof(struct scratch))
		size = sizeof(struct scratch);
	s->r.size = size;
	__u64 flags = wake_flags(size);
	if (bpf_ringbuf_output(&events, s, size, flags) == 0)
		count(COUNTER_SENT);
	else
		count(COUNTER_LOST);
}

/* flush_fork sends the fork record of t (current), a new process whose
 * fork was not sent yet (st, its state, says), before its first record:
 * a process that does nothing userspace sees costs no record at all. */
static __always_inline void flush_fork(struct task_struct *t, struct task_state *st)
{
	if (!st || !st->fork_pending)
		return;
	st->fork_pending = 0;
	struct record *r = bpf_ringbuf_reserve(&events, sizeof(struct record), 0);
	if (!r) {
		count(COUNTER_LOST);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->ts = bpf_ktime_get_boot_ns();
	r->kind = RECORD_FORK;
	r->size = sizeof(struct record);
	r->nr = -1;
	r->abi_nr = -1;
	r->pid = st->fork_parent;
	r->ret = t->tgid;
	r->args[0] = t->pid;
	r->args[1] = st->fork_start;
	r->args[2] = (__u64)t->cgroups;
	r->flags = FLAG_DEFERRED;
	bpf_ringbuf_submit(r, wake_flags(sizeof(struct record)));
	count(COUNTER_SENT);
}

/* The kernel filter. Userspace (bpf/filter.go) writes a compiled plan
 * (compiler.Encoding) into one generation of these maps, then flips
 * filter_ctl.gen: an event is judged wholly by one plan. For a dimension
 * with value v, the classes satisfied are
 *	wildcard | (listed(v) & positive) | (~listed(v) & negative)
 * and an unknown v satisfies all. compiler/emulate.go models it in Go; the
 * bpf tests run both on the same events. */

#define DIM_COMM 0
#define DIM_PARENT 1
#define DIM_PATH 2
#define DIM_FEATURES 3
#define DIM_UID 4
#define DIM_LPORT 5
#define DIM_RPORT 6
#define DIM_CONTAINER 7
#define NUM_DIMS 8
#define NUM_RANGE_DIMS 3 /* uid, local port, remote port */
#define UID_RANGES 256
#define NUM_FEATURES 1024
#define PATH_KEY_MAX 255 /* path bytes and NUL in an LPM key */

#define FEAT_READ (1 << 0)
#define FEAT_WRITE (1 << 1)
#define FEAT_TRUNC (1 << 2)
#define FEAT_CREAT (1 << 3)
#define FEAT_APPEND (1 << 4)
#define FEAT_EXCL (1 << 5)
#define FEAT_CREATED (1 << 6)
#define FEAT_FAILED (1 << 7)
#define FEAT_DOTDOT (1 << 8)
#define FEAT_DIR (1 << 9)

#define O_ACCMODE 00000003
#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_CREAT 00000100
#define O_EXCL 00000200
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define O_DIRECTORY 00200000
#define S_IFDIR 0040000
#define FMODE_CREATED 0x100000

struct mask {
	__u64 w[MASK_WORDS];
};

struct dim_masks {
	struct mask wildcard;
	struct mask positive;
	struct mask negative;
};

struct filter_ctl {
	__u32 gen;
	__u32 pad;
};

/* What each generation's plan uses, so that the exit skips the work no
 * class needs (bpf/filter.go sets them). */
#define USE_PATH (1 << 0)    /* some class checks the path */
#define USE_SUFFIX (1 << 1)  /* the suffix trie has entries */
#define USE_DOTDOT (1 << 2)  /* some class checks the "../" feature */
#define USE_CONTAINER (1 << 3) /* some class checks whether the task is in a container */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} filter_usage SEC(".maps");

/* Per generation, the classes listing host (0) and container (1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 2);
	__type(key, __u32);
	__type(value, struct mask);
} filter_containers SEC(".maps");

struct comm_key {
	__u32 gen;
	__u32 dim;
	char comm[16];
};

struct path_key {
	__u32 prefixlen; /* in bits, the generation byte included */
	__u8 data[1 + PATH_KEY_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_ctl);
} filter_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct mask);
} filter_syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NUM_DIMS);
	__type(key, __u32);
	__type(value, struct dim_masks);
} filter_dims SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct comm_key);
	__type(value, struct mask);
} filter_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NUM_FEATURES);
	__type(key, __u32);
	__type(value, struct mask);
} filter_features SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct path_key);
	__type(value, struct mask);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} filter_paths SEC(".maps");

/* Suffixes: an LPM trie over reversed paths. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct path_key);
	__type(value, struct mask);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} filter_suffixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_key);
} path_key_buf SEC(".maps");

/* The range dimensions (uid, local port, remote port): per generation and
 * dimension, ranges sorted by their first value (the first is 0), each
 * with the classes admitting it, and their count. A bounded binary search
 * finds a value's range. */
struct uid_range {
	__u64 lo;
	struct mask mask;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NUM_RANGE_DIMS * UID_RANGES);
	__type(key, __u32);
	__type(value, struct uid_range);
} filter_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NUM_RANGE_DIMS);
	__type(key, __u32);
	__type(value, __u32);
} filter_range_count SEC(".maps");

static __always_inline void mask_and(struct mask *m, const struct mask *o)
{
	for (int i = 0; i < MASK_WORDS; i++)
		m->w[i] &= o->w[i];
}

static __always_inline bool mask_zero(const struct mask *m)
{
	return !(m->w[0] | m->w[1] | m->w[2] | m->w[3]);
}

/* dim_apply ANDs into m the classes dimension dim satisfies for a value
 * whose listed mask is listed (NULL: not listed). */
static __always_inline void dim_apply(struct mask *m, __u32 gen, __u32 dim, const struct mask *listed)
{
	__u32 k = gen * NUM_DIMS + dim;
	struct dim_masks *dm = bpf_map_lookup_elem(&filter_dims, &k);
	if (!dm)
		return;
	for (int i = 0; i < MASK_WORDS; i++) {
		__u64 l = listed ? listed->w[i] : 0;
		m->w[i] &= dm->wildcard.w[i] | (l & dm->positive.w[i]) | (~l & dm->negative.w[i]);
	}
}

static __always_inline void comm_dim(struct mask *m, __u32 gen, __u32 dim, const char *comm)
{
	struct comm_key k = {.gen = gen, .dim = dim};
	__builtin_memcpy(k.comm, comm, sizeof(k.comm));
	dim_apply(m, gen, dim, bpf_map_lookup_elem(&filter_comms, &k));
}

/* scan_path checks the path (blob 0, len bytes, no NUL): whether it is
 * normalised (no empty, "." or ".." component, no trailing "/"; it starts
 * with "/") and whether it contains "../". It returns SCAN_BAD and
 * SCAN_DOTDOT. It keeps the last three bytes in w and looks back from
 * each "/" and from the end.
 *
 * A plain bounded loop: a bpf_loop callback per byte costs a call and a
 * return thunk each, which on kernels built with return-thunk mitigations
 * was most of the exit program's time. The loop lives in a global
 * function so that the verifier walks it once, not once per path through
 * the exit program. */
#define SCAN_BAD 1
#define SCAN_DOTDOT 2

/* is_zero is 1 when x (below 2^32) is 0, else 0, without a branch: each
 * branch in scan_path's loop would double the states the verifier walks.
 * The empty asm keeps the compiler from turning it back into a compare. */
static __always_inline __u64 is_zero(__u64 x)
{
	x -= 1;
	asm volatile("" : "+r"(x));
	return x >> 63;
}

__noinline int scan_path_exact(struct scratch *s, __u32 len)
{
	if (!s)
		return SCAN_BAD;
	__u64 w = 0, b = 0, dd = 0;
	for (__u32 i = 0; i < PATH_KEY_MAX - 1; i++) {
		if (i >= len)
			break;
		__u64 ch = (__u8)s->data[i];
		__u64 slash = is_zero(ch ^ '/');
		b |= slash & (is_zero((w & 0xff) ^ '/') |                           /* "//" */
			      is_zero((w & 0xffff) ^ ('/' << 8 | '.')) |               /* "/./" */
			      is_zero((w & 0xffffff) ^ ('/' << 16 | '.' << 8 | '.'))); /* "/../" */
		dd |= slash & is_zero((w & 0xffff) ^ ('.' << 8 | '.'));               /* "../" */
		w = ((w << 8) | ch) & 0xffffff;
	}
	/* The end: a trailing "/" (but for "/" itself), "/." or "/..". */
	if (len > 1 && ((w & 0xff) == '/' || (w & 0xffff) == ('/' << 8 | '.') ||
			(w & 0xffffff) == ('/' << 16 | '.' << 8 | '.')))
		b = 1;
	return (b ? SCAN_BAD : 0) | (dd ? SCAN_DOTDOT : 0);
}

/* Byte masks of a word (8 path bytes, the first in the low byte): bit 7
 * of each byte set where the byte is c. A byte above a match may be set
 * too (the borrow), never a match missed: scan_path then scans exactly. */
static __always_inline __u64 bytes_equal(__u64 w, __u64 c)
{
	__u64 x = w ^ (c * 0x0101010101010101ULL);
	return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

/* scan_path is scan_path_exact for most paths at an eighth of the work:
 * every pattern it looks for has a "/" or "." followed by "/" or ".", or
 * a ".." in it, so a path with none of these pairs, eight bytes at a time,
 * is normalised but for a trailing "/"; any other goes to the exact scan. */
__noinline int scan_path(struct scratch *s, __u32 len)
{
	if (!s)
		return SCAN_BAD;
	__u64 pairs = 0, last = 0;
	for (__u32 i = 0; i < (PATH_KEY_MAX + 7) / 8; i++) {
		__u32 off = i * 8;
		if (off >= len)
			break;
		__u32 rem = len - off;
		__u64 w;
		__builtin_memcpy(&w, &s->data[off & 0xff], 8);
		if (rem < 8)
			w &= ~0ULL >> (64 - 8 * rem);
		__u64 sl = bytes_equal(w, '/'), dt = bytes_equal(w, '.');
		__u64 any = sl | dt;
		/* A byte's successor is the next byte up; the pair across the
		 * words' boundary is last's top byte and this word's first. */
		pairs |= (sl & (any >> 8)) | (dt & (dt >> 8)) | (last & (any << 56));
		last = any;
	}
	if (pairs)
		return scan_path_exact(s, len);
	return len > 1 && s->data[(len - 1) & 0xff] == '/' ? SCAN_BAD : 0;
}

/* reverse_path writes the path (blob 0, len bytes, no NUL) reversed into
 * the LPM key after its generation byte; a global function, as
 * scan_path. */
__noinline int reverse_path(struct path_key *k, struct scratch *s, __u32 len)
{
	if (!k || !s)
		return 0;
	for (__u32 i = 0; i < PATH_KEY_MAX - 1; i++) {
		if (i >= len)
			break;
		k->data[(len - i) & 0xff] = s->data[i];
	}
	return 0;
}

/* open_flag_features is the part of an open's feature vector its flags
 * say: the access mode, O_TRUNC, O_CREAT, O_APPEND, O_EXCL. */
static __always_inline __u32 open_flag_features(__u64 flags)
{
	__u32 v = 0;
	switch (flags & O_ACCMODE) {
	case O_WRONLY:
		v |= FEAT_WRITE;
		break;
	case O_RDWR:
		v |= FEAT_READ | FEAT_WRITE;
		break;
	default:
		v |= FEAT_READ;
	}
	if (flags & O_TRUNC)
		v |= FEAT_TRUNC;
	if (flags & O_CREAT)
		v |= FEAT_CREAT;
	if (flags & O_APPEND)
		v |= FEAT_APPEND;
	if (flags & O_EXCL)
		v |= FEAT_EXCL;
	return v;
}

/* features computes the feature vector of an open (and the failure bit
 * for any syscall); dotdot says whether the path holds "../". */
static __always_inline __u32 features(struct scratch *s, struct syscall_desc *d, __s64 ret, bool dotdot)
{
	__u32 v = ret < 0 ? FEAT_FAILED : 0;
	if (d->flags_arg < 0)
		return v;
	__u64 flags = d->flags_arg == FLAGS_CREAT ? (O_CREAT | O_WRONLY | O_TRUNC) : arg_at(s->r.args, d->flags_arg);
	v |= open_flag_features(flags);
	if (ret >= 0 && (s->r.f_mode & FMODE_CREATED))
		v |= FEAT_CREATED;
	if ((ret >= 0 && (s->r.i_mode & S_IFMT) == S_IFDIR) || (flags & O_DIRECTORY))
		v |= FEAT_DIR;
	if (dotdot)
		v |= FEAT_DOTDOT;
	return v;
}

/* features_sat ORs into sat the classes feature vector v satisfies;
 * with "../" unknown, either value's. */
static __always_inline void features_sat(struct mask *sat, __u32 gen, __u32 v, bool dotdot_known)
{
	__u32 k = gen * NUM_FEATURES + (v & (NUM_FEATURES - 1));
	struct mask *l = bpf_map_lookup_elem(&filter_features, &k);
	if (l)
		for (int i = 0; i < MASK_WORDS; i++)
			sat->w[i] |= l->w[i];
	if (!dotdot_known) {
		k = gen * NUM_FEATURES + ((v | FEAT_DOTDOT) & (NUM_FEATURES - 1));
		l = bpf_map_lookup_elem(&filter_features, &k);
		if (l)
			for (int i = 0; i < MASK_WORDS; i++)
				sat->w[i] |= l->w[i];
	}
}

static __always_inline void features_dim(struct mask *m, __u32 gen, __u32 v, bool dotdot_known)
{
	struct mask sat = {};
	features_sat(&sat, gen, v, dotdot_known);
	mask_and(m, &sat);
}

#define O_TMPFILE_BIT 020000000 /* __O_TMPFILE: O_TMPFILE without O_DIRECTORY */

/* entry_features ANDs into m, at the entry, the classes some outcome of
 * the syscall can satisfy in the features dimension: the open flags and
 * "../" are known, the result is not (it may fail; an open may create the
 * file, or open a directory). An event no class can pass whatever the
 * outcome is dropped before the exit's work. A global function: the
 * verifier walks its loop once. */
__noinline int entry_features(struct mask *m, struct scratch *s, struct syscall_desc *d, __u32 gen, __u32 dotdot)
{
	if (!m || !s || !d)
		return 1;
	__u32 v = 0, maybe = FEAT_FAILED;
	if (d->flags_arg >= 0) {
		__u64 flags = d->flags_arg == FLAGS_CREAT ? (O_CREAT | O_WRONLY | O_TRUNC) : arg_at(s->r.args, d->flags_arg);
		v |= open_flag_features(flags);
		if (flags & O_DIRECTORY)
			v |= FEAT_DIR;
		else
			maybe |= FEAT_DIR;
		if (flags & (O_CREAT | O_TMPFILE_BIT))
			maybe |= FEAT_CREATED;
		if (dotdot & DOTDOT_SEEN)
			v |= FEAT_DOTDOT;
	}
	bool dotdot_known = (dotdot & DOTDOT_KNOWN) || d->flags_arg < 0;
	struct mask sat = {};
	for (__u32 i = 0; i < 8; i++) {
		__u32 sub = (i & 1 ? FEAT_FAILED : 0) | (i & 2 ? FEAT_CREATED : 0) | (i & 4 ? FEAT_DIR : 0);
		if (sub & ~maybe)
			continue;
		features_sat(&sat, gen, v | sub, dotdot_known);
	}
	mask_and(m, &sat);
	return !mask_zero(m);
}

/* path_dim matches the path (blob 0) against the prefix trie (exact
 * paths are stored with their NUL) and, reversed, the suffix trie. */
static __always_inline void path_dim(struct mask *m, struct scratch *s, __u32 gen, bool suffixes)
{
	__u32 zero = 0;
	struct path_key *k = bpf_map_lookup_elem(&path_key_buf, &zero);
	if (!k)
		return;
	__u32 n = s->r.len[0]; /* path and its NUL */
	if (n > PATH_KEY_MAX)
		n = PATH_KEY_MAX;
	if (n < 2)
		return;
	k->data[0] = gen;
	if (bpf_probe_read_kernel(&k->data[1], n & 0xff, &s->data[0]) < 0)
		return;
	k->prefixlen = 8 * (1 + n);
	struct mask listed = {};
	struct mask *l = bpf_map_lookup_elem(&filter_paths, k);
	if (l)
		listed = *l;
	if (!suffixes) {
		dim_apply(m, gen, DIM_PATH, &listed);
		return;
	}
	reverse_path(k, s, n - 1);
	k->prefixlen = 8 * n; /* the generation byte and the path, no NUL */
	l = bpf_map_lookup_elem(&filter_suffixes, k);
	if (l)
		for (int i = 0; i < MASK_WORDS; i++)
			listed.w[i] |= l->w[i];
	dim_apply(m, gen, DIM_PATH, &listed);
}

/* range_dim applies range dimension slot (0 uid, 1 local port, 2 remote
 * port; DIM_UID + slot) for value v. A global function: the binary
 * search has a path per range, which the verifier then walks once rather
 * than at every call. */
__noinline int range_dim(struct mask *m, __u32 gen, __u32 slot, __u64 v)
{
	if (!m)
		return 0;
	__u32 table = (gen * NUM_RANGE_DIMS + slot) & 7;
	__u32 *count = bpf_map_lookup_elem(&filter_range_count, &table);
	if (!count || *count == 0)
		return 0;
	__u32 lo = 0, hi = *count;
	if (hi > UID_RANGES)
		hi = UID_RANGES;
	/* The answer is the last range whose first value is <= v; 9 halvings
	 * cover 256 ranges. */
	for (int i = 0; i < 9; i++) {
		if (lo + 1 >= hi)
			break;
		__u32 mid = (lo + hi) / 2;
		__u32 k = table * UID_RANGES + mid;
		struct uid_range *r = bpf_map_lookup_elem(&filter_ranges, &k);
		if (!r)
			return 0;
		if (r->lo <= v)
			lo = mid;
		else
			hi = mid;
	}
	__u32 k = table * UID_RANGES + lo;
	struct uid_range *r = bpf_map_lookup_elem(&filter_ranges, &k);
	if (r)
		dim_apply(m, gen, DIM_UID + slot, &r->mask);
	return 0;
}

static __always_inline void uid_dim(struct mask *m, __u32 gen, __u64 uid) { range_dim(m, gen, 0, uid); }

/* comm_verdict returns the classes the comm dimensions (the process's
 * and its parent's) admit. Two hash lookups each time would be most of the
 * entry's cost, so the task's pending slot keeps the last verdict with the
 * plan generation and the comms it is for: exact, since it is used only
 * for the same three. */
static __always_inline void comm_verdict(struct task_state *p, __u32 plan, struct mask *c)
{
	__u32 gen = plan & 1;
	__u64 *k = (__u64 *)p->comm, *kp = (__u64 *)p->pcomm;
	__u64 *ck = (__u64 *)p->cache_comm, *ckp = (__u64 *)p->cache_pcomm;
	if (p->cache_valid && p->cache_plan == plan && k[0] == ck[0] && k[1] == ck[1] && kp[0] == ckp[0] &&
	    kp[1] == ckp[1]) {
		__builtin_memcpy(c->w, p->cache_mask, sizeof(c->w));
		return;
	}
	__builtin_memset(c->w, 0xff, sizeof(c->w));
	comm_dim(c, gen, DIM_COMM, p->comm);
	comm_dim(c, gen, DIM_PARENT, p->pcomm);
	__builtin_memcpy(p->cache_comm, p->comm, sizeof(p->cache_comm));
	__builtin_memcpy(p->cache_pcomm, p->pcomm, sizeof(p->cache_pcomm));
	__builtin_memcpy(p->cache_mask, c->w, sizeof(p->cache_mask));
	p->cache_plan = plan;
	p->cache_valid = 1;
}

/* container_dim applies the container dimension, when the plan checks
 * it, noting in p what it knew. */
static __always_inline void container_dim(struct mask *m, __u32 gen, struct task_state *p)
{
	__u32 *usage = bpf_map_lookup_elem(&filter_usage, &gen);
	if (!usage || !(*usage & USE_CONTAINER))
		return;
	__u32 c = task_container(p, bpf_get_current_task_btf()->cgroups);
	p->container = c;
	if (c == CONTAINER_UNKNOWN)
		return;
	__u32 k = gen * 2 + (c == CONTAINER_IN);
	dim_apply(m, gen, DIM_CONTAINER, bpf_map_lookup_elem(&filter_containers, &k));
	if (mask_zero(m))
		count(COUNTER_CONTAINER_FILTERED);
}

/* judge_ids judges what the entry knows before reading anything: the
 * syscall nr, the names and the uid (unless the syscall changes it, creds),
 * leaving the classes that pass in p->mask under p->plan. It returns
 * whether some class passes. A global function: the verifier checks it
 * once, not once for each path through its caller. */
__noinline int judge_ids(struct task_state *p, __s32 nr, __u32 creds)
{
	if (!p)
		return 1;
	__u32 zero = 0;
	struct filter_ctl *ctl = bpf_map_lookup_elem(&filter_ctl, &zero);
	__u32 plan = ctl ? ctl->gen : 0, gen = plan & 1;
	__u32 k = gen * MAX_SYSCALLS + (nr & (MAX_SYSCALLS - 1));
	struct mask *sm = bpf_map_lookup_elem(&filter_syscalls, &k);
	if (!sm)
		return 1;
	struct mask m = *sm, c;
	comm_verdict(p, plan, &c);
	mask_and(&m, &c);
	if (!creds)
		uid_dim(&m, gen, p->euid);
	p->container = CONTAINER_UNKNOWN;
	if (!mask_zero(&m))
		container_dim(&m, gen, p);
	p->plan = plan;
	p->judged = 1;
	__builtin_memcpy(p->mask, m.w, sizeof(p->mask));
	return !mask_zero(&m);
}

/* pass_at_enter judges, at the syscall's entry, what is known there: the
 * syscall, the names and the uid, filling the task's state. A syscall no
 * class can pass costs nothing more. */
static __always_inline bool pass_at_enter(struct task_struct *t, struct syscall_desc *d, __s32 nr, struct task_state *p)
{
	read_names(t, p, p->comm, p->pcomm);
	p->euid = t->cred->euid.val;
	p->judged = 0;
	if (d->state || d->judge_exit)
		return true;
	return judge_ids(p, nr, d->creds);
}

/* read_inputs reads, at the entry, the syscall's user-memory inputs into
 * the scratch's data area as the record's blobs 0-3: its strings, the
 * socket address it passes, and the directory a relative path is relative
 * to. The kernel is about to read the same memory: reading it at the exit
 * would let another thread rewrite it while the syscall blocks (a file
 * lease, a slow mount), and name a file other than the one opened. It
 * returns the bytes written. A global function: the verifier checks its
 * paths once, not once for each path through its caller. */
__noinline __u32 read_inputs(struct scratch *s, struct syscall_desc *d, __u32 compat)
{
	__u32 off = 0;
	if (!s || !d)
		return 0;
	if (d->path0 >= 0) {
		__u32 n = read_str(s, off, (const void *)arg_at(s->r.args, d->path0), FLAG_BLOB0_FAILED, FLAG_BLOB0_TRUNCATED);
		s->r.len[0] = n;
		off += n;
	}
	if (d->path1 >= 0) {
		__u32 n = read_str(s, off & (BLOB_MAX * 2 - 1), (const void *)arg_at(s->r.args, d->path1), FLAG_BLOB1_FAILED, FLAG_BLOB1_TRUNCATED);
		s->r.len[1] = n;
		off += n;
	}
	if (!d->addr_out) {
		const void *sa = NULL;
		__u64 salen = 0;
		if (d->sockaddr >= 0) {
			sa = (const void *)arg_at(s->r.args, d->sockaddr);
			salen = arg_at(s->r.args, d->sockaddr_len);
		} else if (d->msghdr >= 0) {
			const void *mh = (const void *)arg_at(s->r.args, d->msghdr);
			if (compat) {
				struct compat_msghdr m = {};
				if (bpf_probe_read_user(&m, sizeof(m), mh) == 0) {
					sa = (const void *)(__u64)m.msg_name;
					salen = m.msg_namelen;
				}
			} else {
				struct user_msghdr m = {};
				if (bpf_probe_read_user(&m, sizeof(m), mh) == 0) {
					sa = m.msg_name;
					salen = m.msg_namelen;
				}
			}
		}
		if (sa) {
			off &= (BLOB_MAX * 2 - 1);
			__u32 n = read_sockaddr(s, off, sa, salen);
			s->r.len[2] = n;
			off += n;
		}
	}
	/* A relative path: record the directory it is relative to now, as
	 * the kernel resolves it; the process may move or be gone by the
	 * time userspace reads the record. */
	__u32 pstart = d->dirfd_path ? (s->r.len[0] & (BLOB_MAX * 2 - 1)) : 0;
	__u16 plen = d->dirfd_path ? s->r.len[1] : s->r.len[0];
	if (d->dirfd >= 0 && plen > 0 && s->data[pstart & DATA_MASK] != '/') {
		int dfd = d->dirfd == ARG_CWD ? AT_FDCWD : (int)arg_at(s->r.args, d->dirfd);
		off &= (BLOB_MAX * 4 - 1);
		if (dfd == AT_FDCWD) {
			off += read_cwd(s, off);
		} else {
			struct file *df = fd_file(dfd);
			if (df) {
				__u32 n = read_dpath(s, off, BPF_CORE_READ(df, f_path.dentry), BPF_CORE_READ(df, f_path.mnt), FLAG_CWD_INCOMPLETE);
				s->r.len[3] = n;
				s->r.flags |= FLAG_DIR;
				off += n;
			}
		}
	}
	if (d->open_how >= 0) {
		/* openat2: the flags and mode live in struct open_how; put them
		 * where openat keeps them (args 2 and 3). */
		struct open_how how = {};
		if (bpf_probe_read_user(&how, sizeof(how), (const void *)arg_at(s->r.args, d->open_how)) == 0) {
			s->r.args[2] = how.flags;
			s->r.args[3] = how.mode;
		}
	}
	return off;
}

/* judge_path judges, at the entry, the path dimension and what the entry
 * knows of the features (ANDed into p->mask), and notes whether the path
 * holds "../" (for the features the exit judges). It returns whether some
 * class still passes. A global function, as read_inputs. */
__noinline int judge_path(struct scratch *s, struct syscall_desc *d, struct task_state *p)
{
	if (!s || !d || !p)
		return 1;
	struct mask mm;
	struct mask *m = &mm;
	__builtin_memcpy(mm.w, p->mask, sizeof(mm.w));
	__u32 gen = p->plan & 1;
	__u32 *usage = bpf_map_lookup_elem(&filter_usage, &gen);
	__u32 use = usage ? *usage : (USE_PATH | USE_SUFFIX | USE_DOTDOT);
	p->dotdot = use & USE_DOTDOT ? 0 : DOTDOT_KNOWN; /* no class cares: any value will do */
	bool path_ok = d->path_dim && s->r.len[0] > 1 && !(s->r.flags & (FLAG_BLOB0_FAILED | FLAG_BLOB0_TRUNCATED)) && s->data[0] == '/';
	__u32 len = s->r.len[0] > 0 ? s->r.len[0] - 1 : 0;
	if (path_ok && len <= PATH_KEY_MAX - 1 && (use & (USE_PATH | USE_DOTDOT))) {
		int scan = scan_path(s, len);
		p->dotdot = DOTDOT_KNOWN | (scan & SCAN_DOTDOT ? DOTDOT_SEEN : 0);
		if (!(scan & SCAN_BAD) && (use & USE_PATH))
			path_dim(m, s, gen, use & USE_SUFFIX);
	}
	if (!mask_zero(m))
		entry_features(m, s, d, gen, p->dotdot);
	__builtin_memcpy(p->mask, mm.w, sizeof(p->mask));
	return !mask_zero(&mm);
}

/* on_enter judges a wanted syscall at its entry and, when some class can
 * still pass it, saves what its exit needs. nr is the x86_64 number, abi_nr
 * the task's; args are the syscall's (the multiplexed call's for an ia32
 * socketcall). */
static __always_inline int on_enter(struct task_struct *t, struct syscall_desc *d, __s32 nr, __s32 abi_nr, const __u64 *args, __u32 rflags)
{
	if (t->tgid == self_tgid)
		return 0;
	count(COUNTER_SEEN);
	if (rflags & FLAG_COMPAT)
		count(COUNTER_COMPAT);
	struct task_state *p = get_state(t, true);
	if (!p) {
		/* No memory, or another BPF program using task storage is running
		 * on this CPU: the syscall goes unrecorded, and is counted. */
		count(COUNTER_UNSAVED);
		return 0;
	}
	p->nr = PENDING_NONE;
	if (!pass_at_enter(t, d, nr, p)) {
		count(COUNTER_FILTERED);
		return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	s->r.flags = rflags;
	__builtin_memset(s->r.len, 0, sizeof(s->r.len));
	__builtin_memcpy(s->r.args, args, sizeof(s->r.args));
	__u32 n = read_inputs(s, d, rflags & FLAG_COMPAT);
	p->dotdot = 0;
	if (p->judged && !judge_path(s, d, p)) {
		count(COUNTER_FILTERED);
		return 0;
	}
	if (n > 0) {
		struct task_blobs *b = bpf_task_storage_get(&task_blobs, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!b) {
			count(COUNTER_UNSAVED);
			return 0;
		}
		if (n > ENTRY_MAX - 1)
			n = ENTRY_MAX - 1;
		bpf_probe_read_kernel(b->data, n & ENTRY_MASK, s->data);
	}
	__builtin_memcpy(p->len, s->r.len, sizeof(p->len));
	__builtin_memcpy(p->args, s->r.args, sizeof(p->args));
	p->flags = s->r.flags;
	p->abi_nr = abi_nr;
	p->nr = nr;
	return 0;
}

/* exit_pairs reports whether an exit numbered nr belongs to the entry
 * saved as saved: the same syscall, or a successful execveat, which
 * leaves the kernel as execve (x86's set_personality_64bit and
 * __set_personality_ia32 renumber the exit for the new image). */
const volatile __s32 nr_execve = -1;
const volatile __s32 nr_execveat = -1;

static __always_inline bool exit_pairs(__s32 saved, __s32 nr)
{
	return saved == nr || (saved == nr_execveat && nr == nr_execve);
}

static __always_inline int on_exit(struct task_struct *t, __s32 nr, __s64 ret)
{
	struct task_state *p = bpf_task_storage_get(&task_states, t, 0, 0);
	if (!p || p->nr == PENDING_NONE)
		return 0;
	__u64 ts = bpf_ktime_get_boot_ns();
	__s32 saved = p->nr;
	p->nr = PENDING_NONE;
	if (!exit_pairs(saved, nr))
		return 0;
	__u32 key = saved;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	struct scratch *s = get_scratch();
	if (!d || !s)
		return 0;
	__builtin_memset(&s->r, 0, sizeof(s->r));
	s->r.ts = ts;
	__builtin_memcpy(s->r.args, p->args, sizeof(s->r.args));
	/* The names and uid the entry judged; a syscall that changes the
	 * credentials is judged, and reported, with the uid it leaves; exec,
	 * never filtered, reports the name it leaves. */
	__builtin_memcpy(s->r.comm, p->comm, sizeof(s->r.comm));
	__builtin_memcpy(s->r.pcomm, p->pcomm, sizeof(s->r.pcomm));
	s->r.euid = p->euid;
	if (d->creds || d->state || d->judge_exit)
		s->r.euid = t->cred->euid.val;
	if (d->state || d->judge_exit)
		read_names(t, p, s->r.comm, s->r.pcomm);
	s->r.flags = p->flags;
	__builtin_memcpy(s->r.len, p->len, sizeof(p->len));
	bool judged = p->judged;
	__u32 judged_plan = p->plan;
	__u32 dotdot = p->dotdot;
	__u32 container = p->container;
	struct mask m;
	__builtin_memcpy(m.w, p->mask, sizeof(m.w));
	s->r.kind = RECORD_SYSCALL;
	/* A successful execveat is reported as the execve it leaves as, as
	 * Falco's libs pair the two. */
	s->r.nr = nr;
	s->r.abi_nr = p->abi_nr;
	s->r.ret = ret;
	__u32 zero = 0;
	struct filter_ctl *ctl = bpf_map_lookup_elem(&filter_ctl, &zero);
	__u32 plan = ctl ? ctl->gen : 0, gen = plan & 1;
	s->r.plan = plan;
	if (judged && judged_plan == plan) {
		/* The entry judged the names, the uid (but for syscalls that
		 * change it) and the path under this plan. */
		if (d->creds)
			uid_dim(&m, gen, s->r.euid);
	} else if (d->judge_exit) {
		/* exec: judged by the names and the uid it leaves. */
		__builtin_memcpy(p->comm, s->r.comm, sizeof(p->comm));
		__builtin_memcpy(p->pcomm, s->r.pcomm, sizeof(p->pcomm));
		p->euid = s->r.euid;
		judge_ids(p, nr, 0);
		__builtin_memcpy(m.w, p->mask, sizeof(m.w));
		s->r.plan = p->plan;
		container = p->container;
		dotdot = 0;
	} else {
		/* A state syscall (never dropped; exec changes the name the entry
		 * saw) or a plan switched since the entry: every class stays a
		 * candidate, and userspace's rules decide. */
		__builtin_memset(m.w, 0xff, sizeof(m.w));
		dotdot = 0;
		container = CONTAINER_UNKNOWN;
	}
	if (mask_zero(&m) && !d->state) {
		count(COUNTER_FILTERED);
		return 0;
	}
	if (container != CONTAINER_UNKNOWN)
		s->r.flags |= FLAG_CONTAINER_KNOWN | (container == CONTAINER_IN ? FLAG_IN_CONTAINER : 0);

	/* The inputs the entry read. */
	__u32 off = s->r.len[0] + s->r.len[1] + s->r.len[2] + s->r.len[3];
	if (off > 0) {
		struct task_blobs *b = bpf_task_storage_get(&task_blobs, t, 0, 0);
		if (off > ENTRY_MAX - 1)
			off = ENTRY_MAX - 1;
		if (!b || bpf_probe_read_kernel(s->data, off & ENTRY_MASK, b->data) < 0) {
			/* Lost: the record says the strings are unknown. */
			s->r.flags |= FLAG_BLOB0_FAILED | FLAG_BLOB1_FAILED | FLAG_BLOB2_FAILED | FLAG_CWD_INCOMPLETE;
			__builtin_memset(s->r.len, 0, sizeof(s->r.len));
			off = 0;
		}
	}
	/* The outputs: a socket address the kernel wrote (accept, recvfrom,
	 * recvmsg), the working directory chdir left. */
	if (d->addr_out && ret >= 0) {
		const void *sa = NULL;
		__u64 salen = 0;
		if (d->sockaddr >= 0) {
			sa = (const void *)arg_at(s->r.args, d->sockaddr);
			__u64 lp = arg_at(s->r.args, d->sockaddr_len);
			__u32 l = 0;
			if (lp)
				bpf_probe_read_user(&l, sizeof(l), (const void *)lp);
			salen = l;
		} else if (d->msghdr >= 0) {
			const void *mh = (const void *)arg_at(s->r.args, d->msghdr);
			if (s->r.flags & FLAG_COMPAT) {
				struct compat_msghdr mc = {};
				if (bpf_probe_read_user(&mc, sizeof(mc), mh) == 0) {
					sa = (const void *)(__u64)mc.msg_name;
					salen = mc.msg_namelen;
				}
			} else {
				struct user_msghdr mu = {};
				if (bpf_probe_read_user(&mu, sizeof(mu), mh) == 0) {
					sa = mu.msg_name;
					salen = mu.msg_namelen;
				}
			}
		}
		if (sa) {
			off &= (ENTRY_MAX * 2 - 1);
			__u32 n = read_sockaddr(s, off, sa, salen);
			s->r.len[2] = n;
			off += n;
		}
	}
	if (d->pwd) {
		off &= (ENTRY_MAX * 2 - 1);
		off += read_cwd(s, off);
	}
	if (d->fd == ARG_RET) {
		if (ret >= 0)
			describe_fd(&s->r, (int)ret);
	} else if (d->fd >= 0) {
		describe_fd(&s->r, (int)arg_at(s->r.args, d->fd));
	}
	/* The features the exit knows: the result, the file the open made. */
	__u32 v = features(s, d, ret, dotdot & DOTDOT_SEEN);
	features_dim(&m, gen, v, (dotdot & DOTDOT_KNOWN) || d->flags_arg < 0);
	/* Ports, from the socket behind the described fd: the local one, and
	 * the remote one when connected. */
	if ((s->r.flags & FLAG_HAS_SOCK) && (s->r.sk_family == AF_INET || s->r.sk_family == AF_INET6)) {
		range_dim(&m, gen, 1, s->r.sport);
		/* Connected: a remote port, and an address other than 0.0.0.0,
		 * :: and ::ffff:0.0.0.0 (userspace's fd.connected). */
		__u64 d0, d1;
		__builtin_memcpy(&d0, &s->r.daddr[0], 8);
		__builtin_memcpy(&d1, &s->r.daddr[8], 8);
		bool unspecified = d0 == 0 && (d1 == 0 || d1 == 0xffff0000ULL);
		if (!unspecified && s->r.dport)
			range_dim(&m, gen, 2, s->r.dport);
	}
	__builtin_memcpy(s->r.mask, m.w, sizeof(m.w));
	if (mask_zero(&m) && !d->state) {
		count(COUNTER_FILTERED);
		return 0;
	}
	fill_rest(&s->r);
	/* Cgroups the filter could not classify: the record says where the
	 * task is, for userspace to classify them. */
	__u32 *usage = bpf_map_lookup_elem(&filter_usage, &gen);
	if (container == CONTAINER_UNKNOWN && usage && (*usage & USE_CONTAINER))
		off = report_cgroups(s, p, off);
	flush_fork(t, p);
	emit(s, off);
	return 0;
}

/* Per-syscall tracepoints (syscalls:sys_enter_NAME): only the syscalls
 * attached pay. The context layout is the tracepoint's format file:
 * common fields (8 bytes), int __syscall_nr, then the arguments or the
 * return value at offset 16. The kernel never runs them for 32-bit
 * syscalls. */
struct syscall_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint/syscalls/sys_enter")
int tp_sys_enter(struct syscall_enter_ctx *ctx)
{
	__u32 key = ctx->nr;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	if (!d || !d->wanted || d->raw)
		return 0;
	/* The kernel refuses to attach a program whose direct context reads
	 * reach past the tracepoint's record, and syscalls with fewer than six
	 * arguments have shorter records: copy the arguments with a helper. */
	__u64 args[6] = {};
	bpf_probe_read_kernel(args, sizeof(args), &ctx->args[0]);
	return on_enter(bpf_get_current_task_btf(), d, ctx->nr, ctx->nr, args, 0);
}

SEC("tracepoint/syscalls/sys_exit")
int tp_sys_exit(struct syscall_exit_ctx *ctx)
{
	return on_exit(bpf_get_current_task_btf(), ctx->nr, ctx->ret);
}

/* compat_nr maps an ia32 syscall number to the x86_64 one. */
static __always_inline __s32 compat_nr(long id)
{
	if (id < 0 || id >= MAX_COMPAT)
		return NR_NONE;
	__u32 k = id;
	__s32 *nr = bpf_map_lookup_elem(&compat_nrs, &k);
	return nr ? *nr : NR_NONE;
}

/* BTF raw tracepoints on every syscall: one attachment each for entry and
 * exit, run for every syscall of the machine, 64-bit and 32-bit. */
SEC("tp_btf/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long id)
{
	__u8 ids = raw_id(id);
	if (!ids)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 args[6];
	__s32 nr = id;
	__u32 rflags = 0;
	if (in_compat(t)) {
		if (!(ids & RAW_COMPAT))
			return 0;
		nr = compat_nr(id);
		if (nr == NR_NONE)
			return 0;
		rflags = FLAG_COMPAT;
		/* ia32 passes arguments in ebx, ecx, edx, esi, edi, ebp. */
		args[0] = (__u32)regs->bx;
		args[1] = (__u32)regs->cx;
		args[2] = (__u32)regs->dx;
		args[3] = (__u32)regs->si;
		args[4] = (__u32)regs->di;
		args[5] = (__u32)regs->bp;
		if (nr == NR_SOCKETCALL) {
			/* socketcall(call, args): the call's arguments are an
			 * array of 32-bit words in user memory, read here as the
			 * kernel is about to. */
			__u32 call = args[0];
			if (call >= MAX_SOCKETCALL)
				return 0;
			struct socketcall_desc *sc = bpf_map_lookup_elem(&socketcalls, &call);
			if (!sc || sc->nr == NR_NONE)
				return 0;
			__u32 words[6] = {};
			__u32 n = sc->nargs;
			if (n > 6)
				n = 6;
			if (n > 0 && bpf_probe_read_user(words, (n * 4) & 31, (const void *)args[1]) < 0)
				n = 0;
			for (int i = 0; i < 6; i++)
				args[i] = words[i];
			nr = sc->nr;
			rflags |= FLAG_SOCKETCALL;
		}
	} else {
		if (!(ids & RAW_NATIVE))
			return 0;
#if defined(__TARGET_ARCH_x86)
		/* regs is a trusted BTF pointer here: direct loads, no helper calls. */
		args[0] = regs->di;
		args[1] = regs->si;
		args[2] = regs->dx;
		args[3] = regs->r10;
		args[4] = regs->r8;
		args[5] = regs->r9;
#else
		args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
		args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
		args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
		args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
		args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
		args[5] = PT_REGS_PARM6_CORE_SYSCALL(regs);
#endif
	}
	__u32 key = nr;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	/* A 64-bit syscall with a tracepoint of its own is the tracepoint
	 * program's; 32-bit ones are only ever seen here. */
	if (!d || !d->wanted || (!d->raw && !(rflags & FLAG_COMPAT)))
		return 0;
	return on_enter(t, d, nr, id, args, rflags);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
#if defined(__TARGET_ARCH_x86)
	long id = regs->orig_ax;
#else
	long id = BPF_CORE_READ(regs, syscallno);
#endif
	__u8 ids = raw_id(id);
	if (!ids)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__s32 nr = id;
	if (in_compat(t)) {
		if (!(ids & RAW_COMPAT))
			return 0;
		nr = compat_nr(id);
		if (nr == NR_NONE)
			return 0;
		if (nr == NR_SOCKETCALL) {
			/* The entry decoded the call. */
			struct task_state *p = bpf_task_storage_get(&task_states, t, 0, 0);
			if (!p || !(p->flags & FLAG_SOCKETCALL))
				return 0;
			nr = p->nr;
		}
	} else {
		__u32 key = nr;
		struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
		if (!d || !d->raw)
			return 0;
	}
	return on_exit(t, nr, ret);
}

/* Process lifecycle: always captured, for the process table. */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	/* A process that forks (or starts a thread) is sent first, if it
	 * was not yet: userspace learns parents before their children. */
	struct task_state *pst = bpf_task_storage_get(&task_states, parent, 0, 0);
	flush_fork(parent, pst);
	/* The child, thread or process, takes its creator's name: a rename
	 * of one thread (or of the process after it started threads) is not
	 * a new name. */
	struct task_state *cst = bpf_task_storage_get(&task_states, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (cst) {
		task_name(parent, pst, cst->name);
		cst->name_known = 1;
		cst->nr = PENDING_NONE;
		cst->fork_pending = 0;
	}
	if (child->pid != child->tgid)
		return 0; /* a new thread, not a new process */
	struct css_set *ccs = child->cgroups;
	if (cst && ccs == parent->cgroups) {
		/* Sent before the child's first record, folded into its exec
		 * record, or never. */
		cst->fork_pending = 1;
		cst->fork_parent = parent->tgid;
		cst->fork_start = BPF_CORE_READ(child, start_boottime);
		return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__builtin_memset(&s->r, 0, sizeof(s->r));
	s->r.ts = bpf_ktime_get_boot_ns();
	fill_task(&s->r);
	s->r.kind = RECORD_FORK;
	s->r.nr = -1;
	s->r.abi_nr = -1;
	/* The record describes the parent (current); the child's ids go in ret and args. */
	s->r.ret = child->tgid;
	s->r.args[0] = child->pid;
	s->r.args[1] = BPF_CORE_READ(child, start_boottime);
	/* A child made in other cgroups (clone3 CLONE_INTO_CGROUP) says where. */
	__u32 off = 0;
	s->r.args[2] = (__u64)ccs;
	if (ccs != parent->cgroups)
		off = read_cgroups(s, 0, ccs, false);
	emit(s, off);
	return 0;
}

/* The EXE_* flags of the file a process executes, as Falco's driver
 * computes them (execve's exit flags). */
#define EXE_WRITABLE (1 << 0)
#define EXE_UPPER_LAYER (1 << 1)
#define EXE_FROM_MEMFD (1 << 2)
#define EXE_LOWER_LAYER (1 << 3)

#define SB_RDONLY 1
#define S_IMMUTABLE 8
#define S_IFREG 0100000
#define S_IFLNK 0120000
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define CAP_DAC_OVERRIDE 1
#define CAP_FOWNER 3
#define UID_GID_MAP_MAX_BASE_EXTENTS 5

/* id_mapped reports whether a kernel uid or gid has a mapping in a user
 * namespace's map (its first extents, as the driver reads them). */
static __always_inline bool id_mapped(struct uid_gid_map *map, __u32 id)
{
	__u32 n = BPF_CORE_READ(map, nr_extents);
	for (int i = 0; i < UID_GID_MAP_MAX_BASE_EXTENTS; i++) {
		if (i >= n)
			break;
		__u32 lo = BPF_CORE_READ(map, extent[i].lower_first);
		__u32 count = BPF_CORE_READ(map, extent[i].count);
		if (id >= lo && id - lo < count)
			return true;
	}
	return false;
}

/* in_group reports whether gid is among the supplementary groups (sorted,
 * as set_groups leaves them). */
static __always_inline bool in_group(struct group_info *gi, __u32 gid)
{
	if (!gi)
		return false;
	__u32 lo = 0, hi = BPF_CORE_READ(gi, ngroups);
	for (int i = 0; i < 16; i++) {
		if (lo >= hi)
			break;
		__u32 mid = (lo + hi) / 2;
		kgid_t g = {};
		bpf_probe_read_kernel(&g, sizeof(g), &gi->gid[mid]);
		if (g.val == gid)
			return true;
		if (g.val < gid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* exe_writable reports whether the executable's inode is writable for the
 * task's (new) credentials: not on a read-only mount, not immutable, and
 * the task owns it, the mode lets its group or others write, or it holds
 * CAP_DAC_OVERRIDE or CAP_FOWNER over the owner. */
static __always_inline bool exe_writable(struct task_struct *t, struct inode *ino)
{
	__u32 mode = BPF_CORE_READ(ino, i_mode);
	__u32 type = mode & S_IFMT;
	if ((BPF_CORE_READ(ino, i_sb, s_flags) & SB_RDONLY) && (type == S_IFREG || type == S_IFDIR || type == S_IFLNK))
		return false;
	if (BPF_CORE_READ(ino, i_flags) & S_IMMUTABLE)
		return false;
	__u32 iuid = BPF_CORE_READ(ino, i_uid.val), igid = BPF_CORE_READ(ino, i_gid.val);
	const struct cred *c = t->cred;
	if (iuid == (__u32)-1 || igid == (__u32)-1)
		return false;
	if (c->fsuid.val == iuid)
		return true;
	if (igid == c->fsgid.val || in_group(c->group_info, igid))
		mode >>= 3;
	if (mode & 2)
		return true;
	struct user_namespace *ns = c->user_ns;
	bool uid_ok = id_mapped(&ns->uid_map, iuid), gid_ok = id_mapped(&ns->gid_map, igid);
	__u64 caps = c->cap_effective.val;
	if ((caps & (1ULL << CAP_DAC_OVERRIDE)) && uid_ok && gid_ok)
		return true;
	return (caps & (1ULL << CAP_FOWNER)) && uid_ok;
}

/* exe_flags computes the EXE_* flags of the file at exe_addr (a struct
 * file *), which the current task executes. A global function: the
 * verifier checks its loops once. */
__noinline __u32 exe_flags(__u64 exe_addr)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct file *exe = (struct file *)exe_addr;
	__u32 flags = 0;
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	if (exe_writable(t, ino))
		flags |= EXE_WRITABLE;
	struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
	if (BPF_CORE_READ(d, d_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		/* struct ovl_inode: the VFS inode, then the upper dentry. */
		struct dentry *upper = NULL;
		__u32 size = bpf_core_type_size(struct inode);
		if (size)
			bpf_probe_read_kernel(&upper, sizeof(upper), (char *)BPF_CORE_READ(d, d_inode) + size);
		flags |= upper && BPF_CORE_READ(upper, d_inode, i_ino) ? EXE_UPPER_LAYER : EXE_LOWER_LAYER;
	}
	if (BPF_CORE_READ(d, d_parent) == d) {
		char name[8] = {};
		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(d, d_name.name));
		if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':')
			flags |= EXE_FROM_MEMFD;
	}
	return flags;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	/* The name exec gives is the process's name until its next exec. */
	struct task_state *st = bpf_task_storage_get(&task_states, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st) {
		__builtin_memcpy(st->name, p->comm, 16);
		st->name_known = 1;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__builtin_memset(&s->r, 0, sizeof(s->r));
	s->r.ts = bpf_ktime_get_boot_ns();
	fill_task(&s->r);
	s->r.kind = RECORD_EXEC;
	s->r.nr = -1;
	s->r.abi_nr = -1;
	s->r.args[0] = old_pid;
	if (st && st->fork_pending) {
		/* The fork was never sent: the exec record says it. */
		st->fork_pending = 0;
		s->r.flags |= FLAG_FORKED;
		s->r.args[1] = st->fork_parent;
		s->r.args[2] = st->fork_start;
	}
	if (in_compat(p))
		s->r.flags |= FLAG_COMPAT; /* the new image is 32-bit */
	/* blob0: the file name given to exec; blob1: argv from the new mm;
	 * blob2: the executable's path; blob3: the cwd; blobs 4, 5: the
	 * cgroups; blob6: the environment. */
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(&s->data[0], BLOB_MAX, filename);
	__u32 off = 0;
	if (n > 0) {
		s->r.len[0] = n;
		off = n & (BLOB_MAX * 2 - 1);
	} else {
		s->r.flags |= FLAG_BLOB0_FAILED;
	}
	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	unsigned long len = end - start;
	if (len > BLOB_MAX)
		len = BLOB_MAX;
	if (off <= DATA_MAX - BLOB_MAX && len > 0) {
		if (bpf_probe_read_user(&s->data[off], len & (BLOB_MAX * 2 - 1), (const void *)start) == 0) {
			s->r.len[1] = len;
			off += len;
		} else {
			s->r.flags |= FLAG_BLOB1_FAILED;
		}
	}
	off &= (BLOB_MAX * 2 - 1);
	struct file *exe = BPF_CORE_READ(bprm, file);
	s->r.exe_flags = exe_flags((__u64)exe);
	s->r.len[2] = read_dpath(s, off, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt), FLAG_PATH_INCOMPLETE);
	off += s->r.len[2];
	off &= (BLOB_MAX * 4 - 1);
	off += read_cwd(s, off);
	off &= (BLOB_MAX * 8 - 1);
	off += read_cgroups(s, off, p->cgroups, true);
	/* blob6: the environment from the new mm, as much as Falco's driver
	 * keeps (4 KiB). */
	start = BPF_CORE_READ(mm, env_start);
	end = BPF_CORE_READ(mm, env_end);
	len = end - start;
	if (len > BLOB_MAX)
		len = BLOB_MAX;
	off &= (BLOB_MAX * 8 - 1);
	if (off <= DATA_MAX - BLOB_MAX && len > 0) {
		if (bpf_probe_read_user(&s->data[off], len & (BLOB_MAX * 2 - 1), (const void *)start) == 0) {
			s->r.len[6] = len;
			off += len;
		} else {
			s->r.flags |= FLAG_ENV_FAILED;
		}
	}
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	s->r.ino = BPF_CORE_READ(ino, i_ino);
	s->r.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	s->r.i_mode = BPF_CORE_READ(ino, i_mode);
	emit(s, off);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	if (p->pid != p->tgid)
		return 0; /* a thread, not the process */
	struct task_state *st = bpf_task_storage_get(&task_states, p, 0, 0);
	if (st && st->fork_pending)
		return 0; /* nothing of the process was sent */
	__u32 zero = 0;
	struct exit_batch *b = bpf_map_lookup_elem(&exit_batches, &zero);
	if (!b)
		return 0;
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 i = b->n;
	if (i >= EXIT_BATCH)
		i = 0;
	if (i == 0)
		b->first = now;
	b->e[i].pid = p->tgid;
	b->e[i].start = BPF_CORE_READ(p, start_boottime);
	b->n = i + 1;
	flush_exits(now);
	return 0;
}

/* A task renaming itself (prctl PR_SET_NAME, a write to /proc/PID/comm)
 * keeps, for Peregrine as for Falco, the name it had: pin it now if it was
 * never pinned. Exec renames too, and sched_process_exec then sets the
 * new name. */
/* A renamed cgroup (cgroup v1 allows it) voids every classification
 * made from the paths walked before. */
SEC("tp_btf/cgroup_rename")
int BPF_PROG(cgroup_rename, struct cgroup *cgrp, const char *path)
{
	bump(&cgroup_gen, 0);
	bump(&cgroup_epoch, EPOCH_KERNEL);
	return 0;
}

/* A task moved to other cgroups: every task's cached class is checked
 * again (see cgroup_epoch). */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cgroup_attach_task, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	bump(&cgroup_epoch, EPOCH_KERNEL);
	return 0;
}

SEC("tp_btf/cgroup_transfer_tasks")
int BPF_PROG(cgroup_transfer_tasks, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	bump(&cgroup_epoch, EPOCH_KERNEL);
	return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(task_rename, struct task_struct *task, const char *comm)
{
	get_state(task, true);
	return 0;
}
