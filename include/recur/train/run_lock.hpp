// run_lock: one training run per run folder, held with flock(2) on root/lock, so that two processes
// never interleave checkpoints and a crashed owner (even SIGKILLed) never leaves the folder stuck.
// Not here: what the owner writes there (checkpoint.hpp, trainer.hpp).
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include <recur/core/error.hpp>
#include <recur/io/atomic_file.hpp>

namespace recur {

/// Holds the exclusive lock of a run folder for its lifetime. The kernel drops the lock when the
/// process ends however it ends, so a stale `lock` file means nothing; its content (the owner's pid)
/// only serves the message a second process gets. Movable, not copyable.
class run_lock {
public:
    /// Locks `root` (which must exist) without waiting. A folder locked by another run, in this
    /// process or another, throws recur::error naming the folder and the owner's pid; a lock file
    /// that cannot be created (read-only or missing folder) throws recur::io_error naming it.
    explicit run_lock(const std::filesystem::path& root) {
        const auto path = root / "lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) io_fail("recur::run_lock: cannot open the lock file '", path.string(), "': ", detail::errno_text(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            std::string owner;
            std::getline(std::ifstream(path), owner);
            release();
            if (err != EWOULDBLOCK) io_fail("recur::run_lock: cannot lock '", path.string(), "': ", detail::errno_text(err));
            fail("recur: the run folder '", root.string(), "' is in use by another training run (pid ",
                 owner.empty() ? std::string("unknown") : owner, ", holding '", path.string(),
                 "'); wait for it to end, stop it, or train into another folder");
        }
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            const int err = errno;
            release();
            io_fail("recur::run_lock: cannot write the lock file '", path.string(), "': ", detail::errno_text(err));
        }
    }
    run_lock(run_lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    run_lock& operator=(run_lock&& o) noexcept {
        if (this != &o) {
            release();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    run_lock(const run_lock&) = delete;
    run_lock& operator=(const run_lock&) = delete;
    ~run_lock() { release(); }

private:
    void release() {
        if (fd_ >= 0) ::close(fd_);  // closing the last descriptor drops the flock
        fd_ = -1;
    }

    int fd_ = -1;
};

}  // namespace recur
