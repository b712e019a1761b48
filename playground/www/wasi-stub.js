// The core crate also holds the Fluent Bit entry points, which ask a WASI host for its
// pre-opened directories. The playground never calls them; should anything ask, there
// are none (EBADF), exactly as a host with no Accessible_Paths would answer.
const EBADF = 8;
export function fd_prestat_get() { return EBADF; }
export function fd_prestat_dir_name() { return EBADF; }
