// Atomic file writes: the bytes go to a temporary file beside the target, are fsync'ed, then renamed
// over it, so a crash leaves either the old file or the new one, never a torn one.
// Not here: what is written (safetensors.hpp, config JSON, trainer checkpoints).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>

#include <recur/core/error.hpp>

namespace recur {

/// Writes `path` atomically with what `produce` streams into it. On any failure (including an
/// exception from `produce`) the temporary file is removed and the previous `path`, if any, is kept.
inline void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& produce) {
    std::ostringstream buffer(std::ios::binary);
    produce(buffer);
    const std::string bytes = std::move(buffer).str();
    const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) io_fail("recur::write_file_atomically: cannot create '", tmp.string(), "': ", std::strerror(errno));
    auto give_up = [&](const char* what) {
        const int err = errno;
        ::close(fd);
        std::filesystem::remove(tmp);
        io_fail("recur::write_file_atomically: ", what, " '", tmp.string(), "' failed: ", std::strerror(err));
    };
    for (std::size_t done = 0; done < bytes.size();) {
        const ::ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) give_up("write to");
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) give_up("fsync of");
    if (::close(fd) != 0) {
        std::filesystem::remove(tmp);
        io_fail("recur::write_file_atomically: close of '", tmp.string(), "' failed: ", std::strerror(errno));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::filesystem::remove(tmp);
        io_fail("recur::write_file_atomically: rename to '", path.string(), "' failed: ", std::strerror(err));
    }
    // Make the rename itself durable.
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

/// Convenience: atomically writes a string.
inline void write_file_atomically(const std::filesystem::path& path, const std::string& text) {
    write_file_atomically(path, [&](std::ostream& os) { os << text; });
}

}  // namespace recur
