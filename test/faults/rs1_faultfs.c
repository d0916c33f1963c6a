/* rs1_faultfs: an LD_PRELOAD library that makes file writes, syncs and
 * opens under a path prefix fail with ENOSPC or EIO on command, so the
 * integration tests can fail the disk of a running broker (or rs1ctl)
 * without root, a loop device or a full file system.
 *
 * RS1_FAULTFS_CONTROL names a control file, one rule a line:
 *
 *   write ENOSPC /tmp/rs1-it-x/rs1.db      write, pwrite, pwrite64, writev
 *   fsync EIO /tmp/rs1-it-x/               fsync, fdatasync
 *   open EIO /tmp/rs1-it-x/firmware/       open, open64, openat, openat64, creat
 *   write ENOSPC /tmp/rs1-it-x/ after=65536
 *
 * A rule matches a file whose path starts with the prefix (for write and
 * fsync, the path the descriptor was opened with, from /proc/self/fd).
 * `after=N` lets the first N bytes (write) or calls (fsync, open) that
 * match through, counted from when the rule was read: a fault in the middle
 * of a file. `#` starts a comment; an empty or absent file injects nothing.
 * The file is read again when its inode, size or mtime change, looked at no
 * more than once every 2 ms; write it elsewhere and rename it into place so
 * no reader sees half of it.
 *
 * Every call goes straight to the kernel (syscall(2)): no dlsym, no malloc,
 * no stdio, no lock that a signal handler could find held, and nothing here
 * can call back into itself. Rules are published with a sequence lock whose
 * every access is atomic; a reader that races a reload retries on the new
 * rules. Other descriptors (sockets, logs, pipes) never match a rule with
 * an absolute prefix.
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FAULT_RULES 16
#define FAULT_PREFIX 512
#define FAULT_FILE 8192

enum fault_op { OP_WRITE, OP_FSYNC, OP_OPEN };

struct fault_rule {
  int op;
  int err;
  long long after;
  size_t prefix_len;
  char prefix[FAULT_PREFIX];
};

struct fault_rules {
  int count;
  struct fault_rule rule[FAULT_RULES];
};

static char control_path[FAULT_PREFIX];
static int control_set = -1; /* -1 unknown, 0 no control file, 1 set */

/* The published rules: even sequence = stable. */
static struct fault_rules rules;
static volatile unsigned sequence;
/* Bytes or calls each rule has let through, reset at every reload. */
static long long passed[FAULT_RULES];
static volatile int reloading;
static long long next_look_ns;
static struct {
  long long ino, size, mtime_s, mtime_ns;
  int exists;
} seen;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int starts_with(const char* s, const char* prefix, size_t n) {
  return strncmp(s, prefix, n) == 0;
}

static void find_control(void) {
  extern char** environ;
  const char* key = "RS1_FAULTFS_CONTROL=";
  size_t key_len = strlen(key);
  control_set = 0;
  for (char** e = environ; e && *e; ++e) {
    if (starts_with(*e, key, key_len)) {
      size_t n = strlen(*e + key_len);
      if (n == 0 || n >= sizeof control_path) return;
      memcpy(control_path, *e + key_len, n + 1);
      control_set = 1;
      return;
    }
  }
}

__attribute__((constructor)) static void faultfs_init(void) { find_control(); }

static int parse_errno(const char* s, size_t n) {
  if (n == 6 && memcmp(s, "ENOSPC", 6) == 0) return ENOSPC;
  if (n == 3 && memcmp(s, "EIO", 3) == 0) return EIO;
  if (n == 6 && memcmp(s, "EDQUOT", 6) == 0) return EDQUOT;
  return 0;
}

static int parse_op(const char* s, size_t n) {
  if (n == 5 && memcmp(s, "write", 5) == 0) return OP_WRITE;
  if (n == 5 && memcmp(s, "fsync", 5) == 0) return OP_FSYNC;
  if (n == 4 && memcmp(s, "open", 4) == 0) return OP_OPEN;
  return -1;
}

/* One line into `r`; 0 when it is not a rule. */
static int parse_line(const char* s, size_t n, struct fault_rule* r) {
  const char* word[4];
  size_t len[4];
  int words = 0;
  size_t i = 0;
  while (i < n && words < 4) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    if (i >= n || s[i] == '#') break;
    word[words] = s + i;
    while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r') ++i;
    len[words] = (size_t)(s + i - word[words]);
    ++words;
  }
  if (words < 3) return 0;
  r->op = parse_op(word[0], len[0]);
  r->err = parse_errno(word[1], len[1]);
  if (r->op < 0 || r->err == 0 || len[2] == 0 || len[2] >= FAULT_PREFIX) return 0;
  memcpy(r->prefix, word[2], len[2]);
  r->prefix[len[2]] = '\0';
  r->prefix_len = len[2];
  r->after = 0;
  if (words == 4 && len[3] > 6 && memcmp(word[3], "after=", 6) == 0) {
    for (size_t k = 6; k < len[3]; ++k) {
      if (word[3][k] < '0' || word[3][k] > '9') return 0;
      r->after = r->after * 10 + (word[3][k] - '0');
    }
  }
  return 1;
}

static void publish(const char* text, long n) {
  struct fault_rules fresh;
  fresh.count = 0;
  long start = 0;
  for (long i = 0; i <= n; ++i) {
    if (i == n || text[i] == '\n') {
      if (fresh.count < FAULT_RULES &&
          parse_line(text + start, (size_t)(i - start), &fresh.rule[fresh.count])) {
        ++fresh.count;
      }
      start = i + 1;
    }
  }
  /* A sequence lock in which every access to the shared rules is atomic:
   * a reader that overlaps this sees a torn copy only in values it then
   * throws away, and no access is a data race. */
  __atomic_add_fetch(&sequence, 1, __ATOMIC_RELAXED); /* odd: changing */
  __atomic_thread_fence(__ATOMIC_RELEASE);
  for (int k = 0; k < fresh.count; ++k) {
    struct fault_rule* to = &rules.rule[k];
    const struct fault_rule* from = &fresh.rule[k];
    __atomic_store_n(&to->op, from->op, __ATOMIC_RELAXED);
    __atomic_store_n(&to->err, from->err, __ATOMIC_RELAXED);
    __atomic_store_n(&to->after, from->after, __ATOMIC_RELAXED);
    __atomic_store_n(&to->prefix_len, from->prefix_len, __ATOMIC_RELAXED);
    for (size_t i = 0; i < from->prefix_len; ++i)
      __atomic_store_n(&to->prefix[i], from->prefix[i], __ATOMIC_RELAXED);
  }
  __atomic_store_n(&rules.count, fresh.count, __ATOMIC_RELAXED);
  for (int k = 0; k < FAULT_RULES; ++k) __atomic_store_n(&passed[k], 0, __ATOMIC_RELAXED);
  __atomic_add_fetch(&sequence, 1, __ATOMIC_RELEASE); /* even: stable */
}

/* Whether the published rule `r` is for `op` on a path that `path` starts
 * with; atomic loads only (see publish). */
static int rule_matches(const struct fault_rule* r, int op, const char* path) {
  if (__atomic_load_n(&r->op, __ATOMIC_RELAXED) != op) return 0;
  size_t n = __atomic_load_n(&r->prefix_len, __ATOMIC_RELAXED);
  if (n >= FAULT_PREFIX) return 0; /* torn: the sequence check rejects it */
  for (size_t i = 0; i < n; ++i) {
    /* A path shorter than the prefix ends here: never read past its end. */
    if (path[i] == '\0' || path[i] != __atomic_load_n(&r->prefix[i], __ATOMIC_RELAXED)) return 0;
  }
  return 1;
}

/* Reads the control file again when it changed; one thread at a time, the
 * others (and a signal handler interrupting the reload) go on with the
 * rules already published. */
static void maybe_reload(void) {
  long long now = now_ns();
  if (now < __atomic_load_n(&next_look_ns, __ATOMIC_RELAXED)) return;
  if (__atomic_exchange_n(&reloading, 1, __ATOMIC_ACQUIRE)) return;
  __atomic_store_n(&next_look_ns, now + 2000000LL, __ATOMIC_RELAXED);
  struct stat st;
  long rc = syscall(SYS_newfstatat, AT_FDCWD, control_path, &st, 0);
  int exists = rc == 0;
  if (exists != seen.exists ||
      (exists && ((long long)st.st_ino != seen.ino || (long long)st.st_size != seen.size ||
                  (long long)st.st_mtim.tv_sec != seen.mtime_s ||
                  (long long)st.st_mtim.tv_nsec != seen.mtime_ns))) {
    static char text[FAULT_FILE];
    long n = 0;
    if (exists) {
      int fd = (int)syscall(SYS_openat, AT_FDCWD, control_path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        for (;;) {
          long r = syscall(SYS_read, fd, text + n, sizeof text - (size_t)n);
          if (r <= 0 || n + r >= (long)sizeof text) break;
          n += r;
        }
        syscall(SYS_close, fd);
      }
    }
    seen.exists = exists;
    if (exists) {
      seen.ino = (long long)st.st_ino;
      seen.size = (long long)st.st_size;
      seen.mtime_s = (long long)st.st_mtim.tv_sec;
      seen.mtime_ns = (long long)st.st_mtim.tv_nsec;
    }
    publish(text, n);
  }
  __atomic_store_n(&reloading, 0, __ATOMIC_RELEASE);
}

/* The errno to fail a call of `op` on `path` with (moving `amount` bytes or
 * 1 call), or 0 to let it through. */
static int fault_for(int op, const char* path, long long amount) {
  for (int tries = 0; tries < 100; ++tries) {
    unsigned before = __atomic_load_n(&sequence, __ATOMIC_ACQUIRE);
    if (before & 1) {
      syscall(SYS_sched_yield); /* a reload is publishing: let it finish */
      continue;
    }
    int err = 0;
    int count = __atomic_load_n(&rules.count, __ATOMIC_RELAXED);
    for (int k = 0; k < count && k < FAULT_RULES; ++k) {
      const struct fault_rule* r = &rules.rule[k];
      if (!rule_matches(r, op, path)) continue;
      long long after = __atomic_load_n(&r->after, __ATOMIC_RELAXED);
      if (after > 0) {
        long long was = __atomic_fetch_add(&passed[k], amount, __ATOMIC_RELAXED);
        if (was + amount <= after) continue;
      }
      err = __atomic_load_n(&r->err, __ATOMIC_RELAXED);
      break;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&sequence, __ATOMIC_RELAXED) == before) return err;
  }
  return 0;
}

static int active(void) {
  if (control_set < 0) find_control();
  if (control_set != 1) return 0;
  maybe_reload();
  return __atomic_load_n(&rules.count, __ATOMIC_RELAXED) > 0;
}

/* The path `fd` was opened with, into buf; 0 when unknown. */
static int fd_path(int fd, char* buf, size_t size) {
  char link[64] = "/proc/self/fd/";
  size_t at = strlen(link);
  char digits[16];
  int nd = 0;
  unsigned v = (unsigned)fd;
  do {
    digits[nd++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && nd < 15);
  while (nd > 0) link[at++] = digits[--nd];
  link[at] = '\0';
  long n = syscall(SYS_readlinkat, AT_FDCWD, link, buf, size - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return 1;
}

static int fault_on_fd(int op, int fd, long long amount) {
  if (fd < 0 || !active()) return 0;
  char path[4096];
  if (!fd_path(fd, path, sizeof path)) return 0;
  return fault_for(op, path, amount);
}

static int fault_on_path(int dirfd, const char* name) {
  if (!name || !active()) return 0;
  if (name[0] == '/') return fault_for(OP_OPEN, name, 1);
  char path[4096];
  size_t n = 0;
  if (dirfd == AT_FDCWD) {
    long r = syscall(SYS_getcwd, path, sizeof path);
    if (r <= 0) return 0;
    n = strlen(path);
  } else {
    if (!fd_path(dirfd, path, sizeof path)) return 0;
    n = strlen(path);
  }
  size_t name_len = strlen(name);
  if (n + 1 + name_len + 1 > sizeof path) return 0;
  path[n] = '/';
  memcpy(path + n + 1, name, name_len + 1);
  return fault_for(OP_OPEN, path, 1);
}

static long fail_with(int err) {
  errno = err;
  return -1;
}

/* ------------------------------------------------------------ the calls */

#define EXPORT __attribute__((visibility("default")))

EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  int err = fault_on_fd(OP_WRITE, fd, (long long)n);
  if (err) return fail_with(err);
  return syscall(SYS_write, fd, buf, n);
}

EXPORT ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  int err = fault_on_fd(OP_WRITE, fd, (long long)n);
  if (err) return fail_with(err);
  return syscall(SYS_pwrite64, fd, buf, n, offset);
}

EXPORT ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  return pwrite(fd, buf, n, offset);
}

EXPORT ssize_t writev(int fd, const struct iovec* iov, int count) {
  long long n = 0;
  for (int i = 0; i < count; ++i) n += (long long)iov[i].iov_len;
  int err = fault_on_fd(OP_WRITE, fd, n);
  if (err) return fail_with(err);
  return syscall(SYS_writev, fd, iov, count);
}

EXPORT int fsync(int fd) {
  int err = fault_on_fd(OP_FSYNC, fd, 1);
  if (err) return (int)fail_with(err);
  return (int)syscall(SYS_fsync, fd);
}

EXPORT int fdatasync(int fd) {
  int err = fault_on_fd(OP_FSYNC, fd, 1);
  if (err) return (int)fail_with(err);
  return (int)syscall(SYS_fdatasync, fd);
}

static int open_at(int dirfd, const char* name, int flags, mode_t mode) {
  int err = fault_on_path(dirfd, name);
  if (err) return (int)fail_with(err);
  return (int)syscall(SYS_openat, dirfd, name, flags, mode);
}

static mode_t mode_of(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char* name, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  return open_at(AT_FDCWD, name, flags, mode);
}

EXPORT int open64(const char* name, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  return open_at(AT_FDCWD, name, flags, mode);
}

EXPORT int openat(int dirfd, const char* name, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  return open_at(dirfd, name, flags, mode);
}

EXPORT int openat64(int dirfd, const char* name, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_of(flags, ap);
  va_end(ap);
  return open_at(dirfd, name, flags, mode);
}

/* The _FORTIFY_SOURCE entry points (no mode: O_CREAT is refused there). */
EXPORT int __open_2(const char* name, int flags) { return open_at(AT_FDCWD, name, flags, 0); }
EXPORT int __open64_2(const char* name, int flags) { return open_at(AT_FDCWD, name, flags, 0); }
EXPORT int __openat_2(int dirfd, const char* name, int flags) {
  return open_at(dirfd, name, flags, 0);
}
EXPORT int __openat64_2(int dirfd, const char* name, int flags) {
  return open_at(dirfd, name, flags, 0);
}

EXPORT int creat(const char* name, mode_t mode) {
  return open_at(AT_FDCWD, name, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat64(const char* name, mode_t mode) { return creat(name, mode); }
