// Atomic file writes: the bytes go to a temporary file beside the target, are fsync'ed, then renamed
// over it (and the folder fsync'ed), so a crash leaves either the old file or the new one, never a torn one.
// Not here: what is written (safetensors.hpp, config JSON, trainer checkpoints).
//
// Every failure (cannot create, disk full, file-size limit, failed fsync, close or rename) is a
// recur::io_error naming the target, the temporary and the system's reason; the temporary is then
// removed and the previous file, if any, kept. Temporaries are named ".tmp-<name>.<pid>", so that a
// folder's owner can sweep what a killed writer left (train/checkpoint.hpp does).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>

#include <recur/core/error.hpp>

namespace recur {

namespace detail {

/// The system's text for an errno value.
inline std::string errno_text(int err) { return std::strerror(err); }

/// An output stream buffer over a file descriptor that keeps the first errno a write failed with
/// (std::ofstream forgets it, so "disk full" and "file too large" would read alike).
class fd_streambuf : public std::streambuf {
public:
    explicit fd_streambuf(int fd) : fd_(fd) { setp(buf_.data(), buf_.data() + buf_.size()); }
    fd_streambuf(const fd_streambuf&) = delete;
    fd_streambuf& operator=(const fd_streambuf&) = delete;

    /// The errno of the first failed write, 0 when every write succeeded.
    int error() const { return error_; }

protected:
    int_type overflow(int_type c) override {
        if (!drain()) return traits_type::eof();
        if (!traits_type::eq_int_type(c, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(c);
            pbump(1);
        }
        return traits_type::not_eof(c);
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        if (n <= epptr() - pptr()) {
            std::memcpy(pptr(), s, static_cast<std::size_t>(n));
            pbump(static_cast<int>(n));
            return n;
        }
        if (!drain() || !write_all(s, static_cast<std::size_t>(n))) return 0;
        return n;
    }
    int sync() override { return drain() ? 0 : -1; }

private:
    bool drain() {
        const auto n = static_cast<std::size_t>(pptr() - pbase());
        setp(buf_.data(), buf_.data() + buf_.size());
        return write_all(buf_.data(), n);
    }
    bool write_all(const char* p, std::size_t n) {
        while (n > 0 && error_ == 0) {
            const ssize_t done = ::write(fd_, p, n);
            if (done <= 0) {
                if (done == 0 || errno != EINTR) error_ = done == 0 ? EIO : errno;
                continue;
            }
            p += done;
            n -= static_cast<std::size_t>(done);
        }
        return error_ == 0;
    }

    int fd_;
    int error_ = 0;
    std::array<char, 1 << 16> buf_{};
};

}  // namespace detail

/// fsyncs the folder `dir`, making the creations, renames and removals inside it durable. Throws
/// recur::io_error naming the folder when it cannot be opened or synced (a file system that cannot
/// sync folders at all, EINVAL, counts as done).
inline void sync_directory(const std::filesystem::path& dir) {
    const auto d = dir.empty() ? std::filesystem::path(".") : dir;
    const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) io_fail("recur::sync_directory: cannot open the folder '", d.string(), "': ", detail::errno_text(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0 && err != EINVAL) io_fail("recur::sync_directory: fsync of the folder '", d.string(), "' failed: ", detail::errno_text(err));
}

/// Writes `path` atomically with what `produce` streams into it: a temporary file beside it
/// (".tmp-<name>.<pid>") is written, fsync'ed and renamed over `path`, then the folder is fsync'ed.
/// On any failure (including an exception from `produce`) the temporary is removed, the previous
/// `path`, if any, is kept, and recur::io_error names the path and the reason (e.g. "No space left
/// on device", "File too large"). A process writing past its file-size limit must ignore SIGXFSZ to
/// get that error instead of being killed (the `recur` command line does).
inline void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& produce) {
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    const std::filesystem::path tmp = dir / (".tmp-" + path.filename().string() + "." + std::to_string(::getpid()));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        io_fail("recur::write_file_atomically: '", path.string(), "': cannot create the temporary file '", tmp.string(),
                "': ", detail::errno_text(errno));
    auto give_up = [&](const char* action, const char* after, int err) {
        ::unlink(tmp.c_str());
        io_fail("recur::write_file_atomically: '", path.string(), "': ", action, " '", tmp.string(), "'", after,
                " failed: ", detail::errno_text(err));
    };
    {
        detail::fd_streambuf buf(fd);
        std::ostream os(&buf);
        try {
            produce(os);
        } catch (...) {
            ::close(fd);
            ::unlink(tmp.c_str());
            throw;
        }
        os.flush();
        if (buf.error() != 0) {
            ::close(fd);
            give_up("writing", "", buf.error());
        }
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        give_up("fsync of", "", err);
    }
    if (::close(fd) != 0) give_up("closing", "", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("renaming", " onto it", errno);
    sync_directory(dir);
}

/// Convenience: atomically writes a string.
inline void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
    write_file_atomically(path, [&](std::ostream& os) { os << text; });
}

}  // namespace recur
