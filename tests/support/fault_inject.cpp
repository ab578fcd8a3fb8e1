// A fault-injection shim for tests (LD_PRELOAD): write, fsync, rename, open-for-writing or mkdir on a
// matching path fail with a chosen errno, or are slowed, as environment variables say. Not here: the
// tests that use it (tests/cli/test_cli_faults.cpp); it is never built into anything else.
//
//   RECUR_FAULT_OP      write | fsync | rename | open | mkdir      (unset: the shim does nothing)
//   RECUR_FAULT_ERRNO   ENOSPC | EIO | EROFS | EFBIG | EACCES | EINVAL | ENOENT  (default EIO)
//   RECUR_FAULT_MATCH   a substring of the path (for write and fsync: of the path the fd was opened
//                       with); unset: every path
//   RECUR_FAULT_AFTER   write: bytes that still succeed in total; the others: calls that still succeed
//   RECUR_FAULT_SLEEP_MS  instead of failing, the call sleeps this long, then runs
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

enum class op { none, write, fsync, rename, open, mkdir };

struct fault {
    op which = op::none;
    int err = EIO;
    const char* match = nullptr;
    long long after = 0;
    long sleep_ms = 0;
};

const fault& config() {
    static const fault f = [] {
        fault c;
        const char* o = std::getenv("RECUR_FAULT_OP");
        if (o == nullptr) return c;
        const struct {
            const char* name;
            op value;
        } ops[] = {{"write", op::write}, {"fsync", op::fsync}, {"rename", op::rename}, {"open", op::open}, {"mkdir", op::mkdir}};
        for (const auto& x : ops)
            if (std::strcmp(o, x.name) == 0) c.which = x.value;
        if (const char* e = std::getenv("RECUR_FAULT_ERRNO")) {
            const struct {
                const char* name;
                int value;
            } errs[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EROFS", EROFS},  {"EFBIG", EFBIG},
                        {"EACCES", EACCES}, {"EINVAL", EINVAL}, {"ENOENT", ENOENT}};
            for (const auto& x : errs)
                if (std::strcmp(e, x.name) == 0) c.err = x.value;
        }
        c.match = std::getenv("RECUR_FAULT_MATCH");
        if (const char* a = std::getenv("RECUR_FAULT_AFTER")) c.after = std::atoll(a);
        if (const char* s = std::getenv("RECUR_FAULT_SLEEP_MS")) c.sleep_ms = std::atol(s);
        return c;
    }();
    return f;
}

bool matches(const char* path) {
    const char* m = config().match;
    return path != nullptr && (m == nullptr || std::strstr(path, m) != nullptr);
}

// File descriptors opened on a matching path.
constexpr int max_fd = 1 << 16;
std::atomic<bool> watched[max_fd];
std::atomic<long long> budget_used{0};

void nap() {
    const timespec t{config().sleep_ms / 1000, (config().sleep_ms % 1000) * 1000000};
    timespec left{};
    while (::nanosleep(&t, &left) != 0 && errno == EINTR) {
    }
}

/// True when this call of `o` on a matching target must fail (errno is then set); sleeps instead
/// when RECUR_FAULT_SLEEP_MS says so.
bool trip(op o) {
    if (config().which != o) return false;
    if (budget_used.fetch_add(1) < config().after) return false;
    if (config().sleep_ms > 0) {
        nap();
        return false;
    }
    errno = config().err;
    return true;
}

template <class F>
F next(const char* name) {
    return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

bool writes(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT)) != 0; }

int opened(int fd, const char* path) {
    if (fd >= 0 && fd < max_fd) watched[fd] = matches(path);
    return fd;
}

int mode_of(int flags, va_list ap) { return (flags & (O_CREAT | O_TMPFILE)) != 0 ? va_arg(ap, int) : 0; }

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const int mode = mode_of(flags, ap);
    va_end(ap);
    if (writes(flags) && matches(path) && trip(op::open)) return -1;
    static const auto real = next<int (*)(const char*, int, ...)>("open");
    return opened(real(path, flags, mode), path);
}

int open64(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const int mode = mode_of(flags, ap);
    va_end(ap);
    if (writes(flags) && matches(path) && trip(op::open)) return -1;
    static const auto real = next<int (*)(const char*, int, ...)>("open64");
    return opened(real(path, flags, mode), path);
}

int openat(int dir, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const int mode = mode_of(flags, ap);
    va_end(ap);
    if (writes(flags) && matches(path) && trip(op::open)) return -1;
    static const auto real = next<int (*)(int, const char*, int, ...)>("openat");
    return opened(real(dir, path, flags, mode), path);
}

int close(int fd) {
    if (fd >= 0 && fd < max_fd) watched[fd] = false;
    static const auto real = next<int (*)(int)>("close");
    return real(fd);
}

ssize_t write(int fd, const void* buf, size_t n) {
    static const auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
    if (config().which == op::write && fd >= 0 && fd < max_fd && watched[fd]) {
        if (config().sleep_ms > 0) {
            nap();
            return real(fd, buf, n);
        }
        const long long used = budget_used.fetch_add(static_cast<long long>(n));
        const long long left = config().after - used;
        if (left <= 0) {
            errno = config().err;
            return -1;
        }
        if (static_cast<long long>(n) > left) n = static_cast<size_t>(left);  // a short write, then the error
    }
    return real(fd, buf, n);
}

int fsync(int fd) {
    if (fd >= 0 && fd < max_fd && watched[fd] && trip(op::fsync)) return -1;
    static const auto real = next<int (*)(int)>("fsync");
    return real(fd);
}

int fdatasync(int fd) {
    if (fd >= 0 && fd < max_fd && watched[fd] && trip(op::fsync)) return -1;
    static const auto real = next<int (*)(int)>("fdatasync");
    return real(fd);
}

int rename(const char* from, const char* to) {
    if ((matches(from) || matches(to)) && trip(op::rename)) return -1;
    static const auto real = next<int (*)(const char*, const char*)>("rename");
    return real(from, to);
}

int renameat(int fd_from, const char* from, int fd_to, const char* to) {
    if ((matches(from) || matches(to)) && trip(op::rename)) return -1;
    static const auto real = next<int (*)(int, const char*, int, const char*)>("renameat");
    return real(fd_from, from, fd_to, to);
}

int renameat2(int fd_from, const char* from, int fd_to, const char* to, unsigned flags) {
    if ((matches(from) || matches(to)) && trip(op::rename)) return -1;
    static const auto real = next<int (*)(int, const char*, int, const char*, unsigned)>("renameat2");
    return real(fd_from, from, fd_to, to, flags);
}

int mkdir(const char* path, mode_t mode) {
    if (matches(path) && trip(op::mkdir)) return -1;
    static const auto real = next<int (*)(const char*, mode_t)>("mkdir");
    return real(path, mode);
}

}  // extern "C"
