package bpf

// FModeCreated is FMODE_CREATED from include/linux/fs.h: set in a file's
// f_mode when the open that made it created the file.
const FModeCreated = 0x100000
