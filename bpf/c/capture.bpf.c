// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Peregrine's capture program. It records system calls at their exit, with
// the arguments saved at their entry and the return value, and the process
// lifecycle (fork, exec, exit) that userspace needs to keep its process
// table. Which syscalls are captured, and which of their arguments are
// paths, socket addresses or file descriptors, is set by userspace in the
// syscall_desc map, so this file knows no syscall numbers.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_SYSCALLS 512
#define MASK_WORDS 4 /* 256 classes; keep in step with compiler.MaskBits */
#define BLOB_MAX 4096 /* PATH_MAX */
#define SOCKADDR_MAX 128
#define NAME_MAX_LEN 256 /* NAME_MAX + NUL */
#define PATH_DEPTH_MAX 32

/* Record kinds. Keep in step with bpf/record.go. */
enum record_kind {
	RECORD_SYSCALL = 1,
	RECORD_FORK = 2,
	RECORD_EXEC = 3,
	RECORD_EXIT = 4,
};

/* Counter slots. Keep in step with bpf/counters.go. */
enum counter {
	COUNTER_SEEN = 0,   /* syscalls the program ran for */
	COUNTER_SENT = 1,   /* records written to the ring buffer */
	COUNTER_LOST = 2,   /* records lost to a full ring buffer */
	COUNTER_FILTERED = 3,
	COUNTER_UNSAVED = 4, /* syscalls whose arguments found no task storage at the entry */
	COUNTER_MAX = 5,
};

#define ARG_NONE -1
#define AT_FDCWD -100
#define ARG_RET 6 /* the return value, as an fd */
#define ARG_CWD 7 /* no dirfd argument: the path is relative to the cwd */
#define FLAGS_CREAT 7 /* creat(2): O_CREAT|O_WRONLY|O_TRUNC */

/* How to capture one syscall. Filled by userspace (bpf/syscalls.go). */
struct syscall_desc {
	__u8 wanted;
	__s8 path0;        /* arg holding a user string (path, name), or -1 */
	__s8 path1;        /* arg holding a second user string, or -1 */
	__s8 sockaddr;     /* arg holding a struct sockaddr *, or -1 */
	__s8 sockaddr_len; /* arg holding its length, or -1 */
	__u8 len_is_ptr;   /* the length arg is a socklen_t * (accept) */
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
	__u8 creds;        /* the syscall changes the credentials: judge the uid at the exit */
};

/* The fixed part of every record; variable-length data follows it. The
 * layout is mirrored by bpf/record.go. */
struct record {
	__u64 ts; /* bpf_ktime_get_boot_ns */
	__u32 kind;
	__u32 size; /* whole record, header included */
	__s32 nr;   /* syscall number, -1 for lifecycle records */
	__u32 pid;  /* tgid */
	__u32 tid;
	__u32 ppid; /* real_parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 loginuid;
	__s64 ret;
	__u64 cgroup_id;
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
	__u16 len[4]; /* lengths of the four blobs that follow */
	__u16 gen; /* the filter generation that judged the record */
	__u8 saddr[16];
	__u8 daddr[16];
	/* Flags: which reads failed (a failed read means unknown, not empty). */
	__u32 flags;
	__u32 vpid; /* pid in its own pid namespace */
	char comm[16];
	char pcomm[16]; /* the parent's comm, as the filter judged it */
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

#define DATA_MAX (4 * BLOB_MAX)

struct scratch {
	struct record r;
	char data[DATA_MAX + BLOB_MAX];
};

#define DATA_MASK (DATA_MAX - 1)

#define PENDING_NONE -1 /* nr of an empty slot */

struct pending {
	__u64 args[6];
	__s32 nr;
	/* What the filter judged at the entry: the record carries these, so
	 * userspace sees the values the kernel saw (a parent can change while
	 * a syscall blocks). */
	__u32 euid;
	char comm[16];
	char pcomm[16];
	/* The classes the entry left (judged set), under plan number plan
	 * (filter_ctl.gen: its low bit is the maps' generation, the rest tells
	 * plans of the same generation apart): the exit starts from them
	 * rather than judging the comms and uid again. */
	__u32 plan;
	__u32 judged;
	__u64 mask[MASK_WORDS];
	/* comm_verdict's cache. */
	__u32 cache_plan;
	__u32 cache_valid;
	char cache_comm[16];
	char cache_pcomm[16];
	__u64 cache_mask[MASK_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct syscall_desc);
} syscall_descs SEC(".maps");

/* The arguments saved at a syscall's entry, in the task's local storage:
 * no hashing or locking, and freed with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} pending_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
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
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_buf, &zero);
}

/* read_comms copies the task's comm and its parent's: task->comm is
 * always NUL-padded (set_task_comm), so two plain 8-byte loads each do
 * what bpf_get_current_comm and a probe-read would, without the helper
 * calls. */
static __always_inline void read_comms(struct task_struct *t, char comm[16], char pcomm[16])
{
	__builtin_memcpy(comm, t->comm, 16);
	__builtin_memcpy(pcomm, t->real_parent->comm, 16);
}

/* fill_ids fills what the filter judges before anything else: the comms
 * and the effective uid. It reads through the BTF pointer of the current
 * task: direct loads the JIT turns into guarded memory accesses, much
 * cheaper than a probe-read helper call each. */
static __always_inline void fill_ids(struct record *r)
{
	struct task_struct *t = bpf_get_current_task_btf();
	read_comms(t, r->comm, r->pcomm);
	r->euid = t->cred->euid.val;
}

/* fill_rest fills the record's other task fields, once it is to be sent. */
static __always_inline void fill_rest(struct record *r)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	r->ts = bpf_ktime_get_boot_ns();
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
	r->cgroup_id = bpf_get_current_cgroup_id();
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

static __always_inline void fill_task(struct record *r)
{
	fill_ids(r);
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

struct walk_ctx {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	__u32 off;
	__u32 done; /* the walk reached the root */
};

/* walk_step is one step of read_dpath, run by bpf_loop so that the
 * verifier checks the body once rather than once per iteration. */
static long walk_step(__u32 i, void *data)
{
	struct walk_ctx *w = data;
	/* Locals, not w->..., inside BPF_CORE_READ: the macro would relocate
	 * the walk_ctx access too, and the kernel has no such type. */
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct dentry *root = BPF_CORE_READ(vm, mnt_root);
	if (d == parent && d != root) {
		/* A pseudo or disconnected dentry (memfd, anonymous files): its
		 * own parent and not a mount's root. d_path shows its name under
		 * "/": write it and stop. */
		struct scratch *s = get_scratch();
		__u32 off = w->off;
		if (!s || off > DATA_MAX - NAME_MAX_LEN)
			return 1;
		const unsigned char *name = BPF_CORE_READ(d, d_name.name);
		long n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], NAME_MAX_LEN, name);
		if (n > 0) {
			w->off = off + n;
			w->done = 1;
		}
		return 1;
	}
	if (d == root || d == parent) {
		struct mount *up = BPF_CORE_READ(m, mnt_parent);
		if (up == m || !up) {
			w->done = 1; /* the root of the tree */
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = up;
		w->vm = (struct vfsmount *)__builtin_preserve_access_index(&up->mnt);
		return 0;
	}
	struct scratch *s = get_scratch();
	__u32 off = w->off;
	if (!s || off > DATA_MAX - NAME_MAX_LEN)
		return 1;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], NAME_MAX_LEN, name);
	if (n <= 0)
		return 1;
	w->off = off + n;
	w->d = parent;
	return 0;
}

/* read_dpath writes a path (dentry and mount) as its components, leaf
 * first, each NUL-terminated, walking d_parent up to the root and crossing
 * mount points as d_path does (fs/d_path.c): tracepoints may not call
 * bpf_d_path. It returns the bytes written, and sets incomplete in the
 * record's flags when the walk did not reach the root. */
static __always_inline __u32 read_dpath(struct scratch *s, __u32 off, struct dentry *d, struct vfsmount *vm, __u32 incomplete)
{
	struct walk_ctx w = {
		.d = d,
		.vm = vm,
		/* container_of, with the offset relocated by CO-RE. */
		.m = (void *)vm - bpf_core_field_offset(struct mount, mnt),
		.off = off,
	};
	bpf_loop(PATH_DEPTH_MAX, walk_step, &w, 0);
	if (!w.done)
		s->r.flags |= incomplete;
	return w.off - off;
}

/* read_cwd writes the current task's working directory as blob 3. */
static __always_inline __u32 read_cwd(struct scratch *s, __u32 off)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct dentry *d = BPF_CORE_READ(t, fs, pwd.dentry);
	struct vfsmount *vm = BPF_CORE_READ(t, fs, pwd.mnt);
	__u32 n = read_dpath(s, off & DATA_MASK, d, vm, FLAG_CWD_INCOMPLETE);
	s->r.len[3] = n;
	return n;
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

static __always_inline void emit(struct scratch *s, __u32 data_len)
{
	__u32 size = sizeof(struct record) + data_len;
	if (size > sizeof(struct scratch))
		size = sizeof(struct scratch);
	s->r.size = size;
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
	if (bpf_ringbuf_output(&events, s, size, flags) == 0)
		count(COUNTER_SENT);
	else
		count(COUNTER_LOST);
}


/* The kernel filter. Userspace (bpf/filter.go) writes a compiled plan
 * (compiler.Encoding) into one generation of these maps, then flips
 * filter_ctl.gen: an event is judged wholly by one plan. For a dimension
 * with value v, the classes satisfied are
 *	wildcard | (listed(v) & positive) | (~listed(v) & negative)
 * and an unknown v satisfies all. Keep in step with compiler/emulate.go. */

#define DIM_COMM 0
#define DIM_PARENT 1
#define DIM_PATH 2
#define DIM_FEATURES 3
#define DIM_UID 4
#define DIM_LPORT 5
#define DIM_RPORT 6
#define NUM_DIMS 7
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} filter_usage SEC(".maps");

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

__noinline int scan_path(struct scratch *s, __u32 len)
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

/* features computes the feature vector of an open (and the failure bit
 * for any syscall). dotdot_known is cleared when the path was unreadable. */
static __always_inline __u32 features(struct scratch *s, struct syscall_desc *d, __s64 ret, __u32 dotdot, bool *dotdot_known)
{
	__u32 v = ret < 0 ? FEAT_FAILED : 0;
	if (d->flags_arg < 0)
		return v;
	__u64 flags = d->flags_arg == FLAGS_CREAT ? (O_CREAT | O_WRONLY | O_TRUNC) : arg_at(s->r.args, d->flags_arg);
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
	if (ret >= 0 && (s->r.f_mode & FMODE_CREATED))
		v |= FEAT_CREATED;
	if ((ret >= 0 && (s->r.i_mode & S_IFMT) == S_IFDIR) || (flags & O_DIRECTORY))
		v |= FEAT_DIR;
	if (dotdot)
		v |= FEAT_DOTDOT;
	return v;
}

static __always_inline void features_dim(struct mask *m, __u32 gen, __u32 v, bool dotdot_known)
{
	__u32 k = gen * NUM_FEATURES + (v & (NUM_FEATURES - 1));
	struct mask *l = bpf_map_lookup_elem(&filter_features, &k);
	struct mask sat = {};
	if (l)
		sat = *l;
	if (!dotdot_known) {
		k = gen * NUM_FEATURES + ((v | FEAT_DOTDOT) & (NUM_FEATURES - 1));
		struct mask *l2 = bpf_map_lookup_elem(&filter_features, &k);
		if (l2)
			for (int i = 0; i < MASK_WORDS; i++)
				sat.w[i] |= l2->w[i];
	}
	mask_and(m, &sat);
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
 * port; DIM_UID + slot) for value v. */
static __always_inline void range_dim(struct mask *m, __u32 gen, __u32 slot, __u64 v)
{
	__u32 table = (gen * NUM_RANGE_DIMS + slot) & 7;
	__u32 *count = bpf_map_lookup_elem(&filter_range_count, &table);
	if (!count || *count == 0)
		return;
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
			return;
		if (r->lo <= v)
			lo = mid;
		else
			hi = mid;
	}
	__u32 k = table * UID_RANGES + lo;
	struct uid_range *r = bpf_map_lookup_elem(&filter_ranges, &k);
	if (r)
		dim_apply(m, gen, DIM_UID + slot, &r->mask);
}

static __always_inline void uid_dim(struct mask *m, __u32 gen, __u64 uid) { range_dim(m, gen, 0, uid); }

/* comm_verdict returns the classes the comm dimensions (the process's
 * and its parent's) admit. Two hash lookups each time would be most of the
 * entry's cost, so the task's pending slot keeps the last verdict with the
 * plan generation and the comms it is for: exact, since it is used only
 * for the same three. */
static __always_inline void comm_verdict(struct pending *p, __u32 plan, struct mask *c)
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

/* pass_at_enter judges, at the syscall's entry, what is known there: the
 * syscall, the comms and the uid, filling the task's pending slot. A
 * syscall no class can pass costs no saved arguments and no work at its
 * exit. */
static __always_inline bool pass_at_enter(struct task_struct *t, struct syscall_desc *d, __s32 nr, struct pending *p)
{
	read_comms(t, p->comm, p->pcomm);
	p->euid = t->cred->euid.val;
	p->judged = 0;
	if (d->state)
		return true;
	__u32 zero = 0;
	struct filter_ctl *ctl = bpf_map_lookup_elem(&filter_ctl, &zero);
	__u32 plan = ctl ? ctl->gen : 0, gen = plan & 1;
	__u32 k = gen * MAX_SYSCALLS + (nr & (MAX_SYSCALLS - 1));
	struct mask *sm = bpf_map_lookup_elem(&filter_syscalls, &k);
	if (!sm)
		return true;
	struct mask m = *sm, c;
	comm_verdict(p, plan, &c);
	mask_and(&m, &c);
	if (!d->creds)
		uid_dim(&m, gen, p->euid);
	p->plan = plan;
	p->judged = 1;
	__builtin_memcpy(p->mask, m.w, sizeof(p->mask));
	return !mask_zero(&m);
}

/* filter_post judges the path and the features. */
static __always_inline bool filter_post(struct scratch *s, struct syscall_desc *d, __u32 gen, __s64 ret)
{
	struct mask m;
	__builtin_memcpy(m.w, s->r.mask, sizeof(m.w));
	__u32 *usage = bpf_map_lookup_elem(&filter_usage, &gen);
	__u32 use = usage ? *usage : (USE_PATH | USE_SUFFIX | USE_DOTDOT);
	bool path_ok = d->path_dim && s->r.len[0] > 1 && !(s->r.flags & (FLAG_BLOB0_FAILED | FLAG_BLOB0_TRUNCATED)) && s->data[0] == '/';
	__u32 len = s->r.len[0] > 0 ? s->r.len[0] - 1 : 0;
	__u32 bad = 0, dotdot = 0;
	bool dotdot_known = false;
	if (!(use & USE_DOTDOT))
		dotdot_known = true; /* no class cares: any value will do */
	if (path_ok && len <= PATH_KEY_MAX - 1 && (use & (USE_PATH | USE_DOTDOT))) {
		int scan = scan_path(s, len);
		bad = scan & SCAN_BAD;
		dotdot = scan & SCAN_DOTDOT;
		dotdot_known = true;
		if (!bad && (use & USE_PATH))
			path_dim(&m, s, gen, use & USE_SUFFIX);
	}
	features_dim(&m, gen, features(s, d, ret, dotdot, &dotdot_known), dotdot_known || d->flags_arg < 0);
	/* Ports, from the socket behind the described fd: the local one, and
	 * the remote one when connected. */
	if ((s->r.flags & FLAG_HAS_SOCK) && (s->r.sk_family == AF_INET || s->r.sk_family == AF_INET6)) {
		range_dim(&m, gen, 1, s->r.sport);
		__u64 d0, d1;
		__builtin_memcpy(&d0, &s->r.daddr[0], 8);
		__builtin_memcpy(&d1, &s->r.daddr[8], 8);
		if ((d0 | d1) && s->r.dport)
			range_dim(&m, gen, 2, s->r.dport);
	}
	__builtin_memcpy(s->r.mask, m.w, sizeof(m.w));
	return !mask_zero(&m);
}

/* on_enter saves the arguments of a wanted syscall. The raw tracepoint
 * programs see every syscall and take only those marked raw: the ones
 * with no per-syscall tracepoint, or all in raw mode. */
static __always_inline int on_enter(__s32 nr, const __u64 *args, bool raw)
{
	__u32 key = nr;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	if (!d || !d->wanted || (raw && !d->raw))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == self_tgid)
		return 0;
	count(COUNTER_SEEN);
	struct pending *p = bpf_task_storage_get(&pending_calls, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p) {
		/* No memory, or another BPF program using task storage is running
		 * on this CPU: the syscall goes unrecorded, and is counted. */
		count(COUNTER_UNSAVED);
		return 0;
	}
	if (!pass_at_enter(t, d, nr, p)) {
		/* Decided already: no arguments saved, the exit does nothing. */
		p->nr = PENDING_NONE;
		count(COUNTER_FILTERED);
		return 0;
	}
	__builtin_memcpy(p->args, args, sizeof(p->args));
	p->nr = nr;
	return 0;
}

static __always_inline int on_exit(__s32 nr, __s64 ret)
{
	struct pending *p = bpf_task_storage_get(&pending_calls, bpf_get_current_task_btf(), 0, 0);
	if (!p || p->nr == PENDING_NONE)
		return 0;
	if (p->nr != nr) {
		p->nr = PENDING_NONE;
		return 0;
	}
	__u32 key = nr;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	struct scratch *s = get_scratch();
	if (!d || !s) {
		p->nr = PENDING_NONE;
		return 0;
	}
	__builtin_memset(&s->r, 0, sizeof(s->r));
	__builtin_memcpy(s->r.args, p->args, sizeof(s->r.args));
	/* The comms and uid the entry judged; a syscall that changes the
	 * credentials is judged, and reported, with the uid it leaves; state
	 * syscalls, never filtered, report what they leave. */
	__builtin_memcpy(s->r.comm, p->comm, sizeof(s->r.comm));
	__builtin_memcpy(s->r.pcomm, p->pcomm, sizeof(s->r.pcomm));
	s->r.euid = p->euid;
	if (d->creds)
		s->r.euid = bpf_get_current_task_btf()->cred->euid.val;
	if (d->state)
		fill_ids(&s->r); /* exec changes the comm: report the new one */
	bool judged = p->judged;
	__u32 judged_plan = p->plan;
	struct mask m;
	__builtin_memcpy(m.w, p->mask, sizeof(m.w));
	p->nr = PENDING_NONE;
	s->r.kind = RECORD_SYSCALL;
	s->r.nr = nr;
	s->r.ret = ret;
	__u32 zero = 0;
	struct filter_ctl *ctl = bpf_map_lookup_elem(&filter_ctl, &zero);
	__u32 plan = ctl ? ctl->gen : 0, gen = plan & 1;
	s->r.gen = gen;
	if (judged && judged_plan == plan) {
		/* The entry judged the comms (and the uid, but for syscalls that
		 * change it) under this plan. */
		if (d->creds)
			uid_dim(&m, gen, s->r.euid);
	} else {
		/* A state syscall (never dropped; exec changes the comm the entry
		 * saw) or a plan switched since the entry: every class stays a
		 * candidate, and userspace's rules decide. */
		__builtin_memset(m.w, 0xff, sizeof(m.w));
	}
	__builtin_memcpy(s->r.mask, m.w, sizeof(m.w));
	if (mask_zero(&m) && !d->state) {
		count(COUNTER_FILTERED);
		return 0;
	}

	__u32 off = 0;
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
	const void *sa = NULL;
	__u64 salen = 0;
	if (d->sockaddr >= 0) {
		sa = (const void *)arg_at(s->r.args, d->sockaddr);
		salen = arg_at(s->r.args, d->sockaddr_len);
		if (d->len_is_ptr) {
			__u32 l = 0;
			if (salen)
				bpf_probe_read_user(&l, sizeof(l), (const void *)salen);
			salen = l;
		}
	} else if (d->msghdr >= 0) {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)arg_at(s->r.args, d->msghdr)) == 0) {
			sa = m.msg_name;
			salen = m.msg_namelen;
		}
	}
	if (sa) {
		off &= (BLOB_MAX * 2 - 1);
		__u32 n = read_sockaddr(s, off, sa, salen);
		s->r.len[2] = n;
		off += n;
	}
	/* A relative path: record the directory it is relative to, so that
	 * userspace need not look it up after the fact (the process may be
	 * gone). Blob 2 is free for path syscalls. */
	__u32 pstart = d->dirfd_path ? (s->r.len[0] & (BLOB_MAX * 2 - 1)) : 0;
	__u16 plen = d->dirfd_path ? s->r.len[1] : s->r.len[0];
	if (d->dirfd >= 0 && plen > 0 && s->data[pstart & DATA_MASK] != '/') {
		int dfd = d->dirfd == ARG_CWD ? AT_FDCWD : (int)arg_at(s->r.args, d->dirfd);
		off &= (BLOB_MAX * 2 - 1);
		if (dfd == AT_FDCWD) {
			off += read_cwd(s, off);
		} else {
			struct file *df = fd_file(dfd);
			if (df) {
				__u32 n = read_dpath(s, off, BPF_CORE_READ(df, f_path.dentry), BPF_CORE_READ(df, f_path.mnt), FLAG_CWD_INCOMPLETE);
				s->r.len[3] = n;
				off += n;
			}
		}
	} else if (d->pwd) {
		off &= (BLOB_MAX * 2 - 1);
		off += read_cwd(s, off);
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
	if (d->fd == ARG_RET) {
		if (ret >= 0)
			describe_fd(&s->r, (int)ret);
	} else if (d->fd >= 0) {
		describe_fd(&s->r, (int)arg_at(s->r.args, d->fd));
	}
	if (!filter_post(s, d, gen, ret) && !d->state) {
		count(COUNTER_FILTERED);
		return 0;
	}
	fill_rest(&s->r);
	emit(s, off);
	return 0;
}

/* Per-syscall tracepoints (syscalls:sys_enter_NAME): only the syscalls
 * attached pay. The context layout is the tracepoint's format file:
 * common fields (8 bytes), int __syscall_nr, then the arguments or the
 * return value at offset 16. */
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
	/* The kernel refuses to attach a program whose direct context reads
	 * reach past the tracepoint's record, and syscalls with fewer than six
	 * arguments have shorter records: copy the arguments with a helper. */
	__u64 args[6] = {};
	bpf_probe_read_kernel(args, sizeof(args), &ctx->args[0]);
	return on_enter(ctx->nr, args, false);
}

SEC("tracepoint/syscalls/sys_exit")
int tp_sys_exit(struct syscall_exit_ctx *ctx)
{
	return on_exit(ctx->nr, ctx->ret);
}

/* BTF raw tracepoints on every syscall: one attachment, every syscall pays
 * for a map lookup. */
SEC("tp_btf/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long id)
{
	/* Every syscall of the machine comes here: leave at once unless it is
	 * one to capture through this program. */
	__u32 key = id;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	if (!d || !d->raw)
		return 0;
	__u64 args[6];
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
	return on_enter(id, args, true);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
#if defined(__TARGET_ARCH_x86)
	long id = regs->orig_ax;
#else
	long id = BPF_CORE_READ(regs, syscallno);
#endif
	__u32 key = id;
	struct syscall_desc *d = bpf_map_lookup_elem(&syscall_descs, &key);
	if (!d || !d->raw)
		return 0;
	return on_exit(id, ret);
}

/* Process lifecycle: always captured, for the process table. */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid != child->tgid)
		return 0; /* a new thread, not a new process */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__builtin_memset(&s->r, 0, sizeof(s->r));
	fill_task(&s->r);
	s->r.kind = RECORD_FORK;
	s->r.nr = -1;
	/* The record describes the parent (current); the child's ids go in ret and args. */
	s->r.ret = child->tgid;
	s->r.args[0] = child->pid;
	s->r.args[1] = BPF_CORE_READ(child, start_time);
	emit(s, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__builtin_memset(&s->r, 0, sizeof(s->r));
	fill_task(&s->r);
	s->r.kind = RECORD_EXEC;
	s->r.nr = -1;
	s->r.args[0] = old_pid;
	/* blob0: the file name given to exec; blob1: argv from the new mm;
	 * blob2: the dentry name of the executable (memfd:... for fileless). */
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
	s->r.len[2] = read_dpath(s, off, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt), FLAG_PATH_INCOMPLETE);
	off += s->r.len[2];
	off += read_cwd(s, off);
	/* A thread other than the leader may have called exec: it keeps its
	 * task, so its saved arguments (task storage) are still found at the
	 * syscall's exit under its new id. */
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
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__builtin_memset(&s->r, 0, sizeof(s->r));
	fill_task(&s->r);
	s->r.kind = RECORD_EXIT;
	s->r.nr = -1;
	s->r.ret = p->exit_code;
	emit(s, 0);
	return 0;
}
