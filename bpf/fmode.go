package bpf

// fmodeCreated is FMODE_CREATED from include/linux/fs.h: the open created
// the file.
const fmodeCreated = 0x100000
