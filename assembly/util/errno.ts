/** The errno values routing returns (negated, as in the kernel). */
export const ESRCH: i32 = 3;
export const EAGAIN: i32 = 11;
export const EACCES: i32 = 13;
export const EXDEV: i32 = 18;
export const ENODEV: i32 = 19;
export const EINVAL: i32 = 22;
export const EMSGSIZE: i32 = 90;
export const ENETUNREACH: i32 = 101;
export const EHOSTUNREACH: i32 = 113;
