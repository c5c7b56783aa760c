package bpf

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/peregrine-sec/peregrine/compiler"
	"github.com/peregrine-sec/peregrine/syscalls"
)

// cConstants reads the capture program's integer constants: its #defines
// of a number or (1 << n), and the members of its enums.
func cConstants(t *testing.T) map[string]int64 {
	t.Helper()
	src, err := os.ReadFile("c/capture.bpf.c")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	define := regexp.MustCompile(`(?m)^#define ([A-Z][A-Z0-9_]*) +\(?(-?[0-9a-fx]+)(?: << ([0-9]+))?\)?`)
	for _, m := range define.FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = number(t, m[2], m[3])
	}
	member := regexp.MustCompile(`(?m)^\t([A-Z][A-Z0-9_]*) = (-?[0-9]+)(?: << ([0-9]+))?,`)
	for _, m := range member.FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = number(t, m[2], m[3])
	}
	return out
}

func number(t *testing.T, v, shift string) int64 {
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		t.Fatalf("constant %s: %v", v, err)
	}
	if shift != "" {
		s, _ := strconv.Atoi(shift)
		n <<= s
	}
	return n
}

// TestConstantsAgree checks that every constant the capture program and
// Go share has one value: the C program's, which each Go name must equal.
// A constant added on one side only, or changed on one side, fails here.
func TestConstantsAgree(t *testing.T) {
	c := cConstants(t)
	var rec Record
	shared := map[string]int64{
		"MAX_SYSCALLS": maxSyscalls,
		"MASK_WORDS":   compiler.MaskBits / 64,
		"NUM_BLOBS":    int64(len(rec.Blobs)),
		// Registers of the syscall table's layouts.
		"ARG_RET": syscalls.RetFD, "ARG_CWD": syscalls.CwdBase, "FLAGS_CREAT": syscalls.CreatFlags,
		"NR_NONE": nrNone, "NR_SOCKETCALL": nrSocketcall, "RAW_NATIVE": rawNative, "RAW_COMPAT": rawCompat,
		// Record kinds and flags.
		"RECORD_SYSCALL": int64(KindSyscall), "RECORD_FORK": int64(KindFork), "RECORD_EXEC": int64(KindExec),
		"RECORD_EXIT":       int64(KindExit),
		"FLAG_BLOB0_FAILED": FlagBlob0Failed, "FLAG_BLOB1_FAILED": FlagBlob1Failed, "FLAG_BLOB2_FAILED": FlagBlob2Failed,
		"FLAG_BLOB0_TRUNCATED": FlagBlob0Truncated, "FLAG_BLOB1_TRUNCATED": FlagBlob1Truncated,
		"FLAG_HAS_FILE": FlagHasFile, "FLAG_HAS_SOCK": FlagHasSock, "FLAG_PATH_INCOMPLETE": FlagPathIncomplete,
		"FLAG_CWD_INCOMPLETE": FlagCwdIncomplete, "FLAG_COMPAT": FlagCompat, "FLAG_DIR": FlagDir,
		"FLAG_CGROUP_INCOMPLETE": FlagCgroupIncomplete, "FLAG_CGROUPS": FlagCgroups,
		"FLAG_SOCKETCALL": FlagSocketcall, "FLAG_ENV_FAILED": FlagEnvFailed,
		"FLAG_FORKED": FlagForked, "FLAG_DEFERRED": FlagDeferred,
		"FLAG_CONTAINER_KNOWN": FlagContainerKnown, "FLAG_IN_CONTAINER": FlagInContainer,
		"CONTAINER_UNKNOWN": containerUnknown, "CONTAINER_HOST": containerHost, "CONTAINER_IN": containerIn,
		"CGROUP_CLASSES": CgroupClassCapacity, "EPOCH_USER": epochUser,
		"EXE_WRITABLE": ExeWritable, "EXE_UPPER_LAYER": ExeUpperLayer, "EXE_FROM_MEMFD": ExeFromMemfd,
		"EXE_LOWER_LAYER": ExeLowerLayer, "FMODE_CREATED": FModeCreated,
		// The filter's dimensions, features and usage flags.
		"DIM_COMM": int64(dimIndex[compiler.DimComm]), "DIM_PARENT": int64(dimIndex[compiler.DimParentComm]),
		"DIM_PATH": int64(dimIndex[compiler.DimPath]), "DIM_FEATURES": int64(dimIndex[compiler.DimFeatures]),
		"DIM_UID": int64(dimIndex[compiler.DimUID]), "DIM_LPORT": int64(dimIndex[compiler.DimLocalPort]),
		"DIM_RPORT": int64(dimIndex[compiler.DimRemotePort]), "DIM_CONTAINER": int64(dimIndex[compiler.DimContainer]),
		"NUM_DIMS":       numDims,
		"NUM_RANGE_DIMS": numRangeDims, "UID_RANGES": uidRanges,
		"NUM_FEATURES": compiler.NumFeatureVectors,
		"PATH_KEY_MAX": compiler.PathKeyMax + 1, // the path and its NUL
		"FEAT_READ":    compiler.FeatRead, "FEAT_WRITE": compiler.FeatWrite, "FEAT_TRUNC": compiler.FeatTrunc,
		"FEAT_CREAT": compiler.FeatCreat, "FEAT_APPEND": compiler.FeatAppend, "FEAT_EXCL": compiler.FeatExcl,
		"FEAT_CREATED": compiler.FeatCreated, "FEAT_FAILED": compiler.FeatFailed, "FEAT_DOTDOT": compiler.FeatDotDot,
		"FEAT_DIR": compiler.FeatDir,
		"USE_PATH": usePath, "USE_SUFFIX": useSuffix, "USE_DOTDOT": useDotDot, "USE_CONTAINER": useContainer,
	}
	for name, want := range shared {
		got, ok := c[name]
		if !ok {
			t.Errorf("%s: not defined in c/capture.bpf.c", name)
			continue
		}
		if got != want {
			t.Errorf("%s: %d in the C program, %d in Go", name, got, want)
		}
	}
	// Every C constant of a shared family has its Go twin.
	for name := range c {
		for _, family := range []string{"FLAG_", "FEAT_", "DIM_", "USE_", "EXE_", "RECORD_"} {
			if strings.HasPrefix(name, family) {
				if _, ok := shared[name]; !ok {
					t.Errorf("%s: a C constant with no Go twin in this test", name)
				}
			}
		}
	}
	// The counter slots are read in the order of the C enum.
	order := []string{"COUNTER_SEEN", "COUNTER_SENT", "COUNTER_LOST", "COUNTER_FILTERED", "COUNTER_UNSAVED", "COUNTER_COMPAT", "COUNTER_CONTAINER_FILTERED", "COUNTER_MAX"}
	for i, n := range order {
		if c[n] != int64(i) {
			t.Errorf("%s = %d, Counters reads it as slot %d", n, c[n], i)
		}
	}
	if got := int(unsafe.Sizeof(Counters{})) / 8; int64(got) != c["COUNTER_MAX"] {
		t.Errorf("Counters has %d fields, the C program %d slots", got, c["COUNTER_MAX"])
	}
}
