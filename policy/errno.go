package policy

import (
	"strconv"
)

// errnoNames are the errno names libsinsp knows (sinsp_utils::errno_to_str):
// the Linux ones from 1 to 125 (95 is EOPNOTSUPP, 117 EUCLEAN; 41 and 58
// have none), and the kernel-internal ones from 512 to 530. Errnos 126 to
// 133 (ENOKEY, EOWNERDEAD, ...) have no name there.
var errnoNames = func() map[int64]string {
	m := map[int64]string{}
	for i, n := range []string{ // 1 to 125
		"EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
		"EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
		"ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC",
		"ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK",
		"ENOSYS", "ENOTEMPTY", "ELOOP", "", "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST",
		"ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC",
		"EBADSLT", "", "EBFONT", "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE",
		"ENOLINK", "EADV", "ESRMNT", "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW",
		"ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ",
		"ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE",
		"ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT",
		"EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED",
		"ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT",
		"ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN",
		"ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED",
	} {
		if n != "" {
			m[int64(i)+1] = n
		}
	}
	for e, n := range []string{"ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ENOIOCTLCMD",
		"ERESTART_RESTARTBLOCK", "", "", "", "", "EBADHANDLE", "ENOTSYNC", "EBADCOOKIE", "ENOTSUPP",
		"ETOOSMALL", "ESERVERFAULT", "EBADTYPE", "EJUKEBOX", "EIOCBQUEUED", "EIOCBRETRY"} {
		if n != "" {
			m[512+int64(e)] = n
		}
	}
	return m
}()

// errnoByName is the inverse of errnoNames.
var errnoByName = func() map[string]int64 {
	m := map[string]int64{}
	for e, n := range errnoNames {
		m[n] = e
	}
	return m
}()

// ErrnoName returns libsinsp's name for a positive errno (ENOENT for 2)
// and whether it has one.
func ErrnoName(errno int64) (string, bool) {
	n, ok := errnoNames[errno]
	return n, ok
}

// ResultName renders a syscall result as evt.res does: SUCCESS for zero and
// positive values, the errno name (ENOENT) for negative ones, and the
// number itself ("-126") for an errno libsinsp has no name for.
func ResultName(res int64) string {
	if res >= 0 {
		return "SUCCESS"
	}
	if n, ok := errnoNames[-res]; ok {
		return n
	}
	return strconv.FormatInt(res, 10)
}

// ResultNumber is the inverse of ResultName; SUCCESS gives 0.
func ResultNumber(name string) (int64, bool) {
	if name == "SUCCESS" {
		return 0, true
	}
	if n, ok := errnoByName[name]; ok {
		return -n, true
	}
	if n, err := strconv.ParseInt(name, 10, 64); err == nil && n < 0 {
		if _, named := errnoNames[-n]; !named {
			return n, true
		}
	}
	return 0, false
}
