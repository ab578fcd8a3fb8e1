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
#include <fstream>
#include <functional>
#include <string>

#include <recur/core/error.hpp>

namespace recur {

/// Writes `path` atomically with what `produce` streams into it. On any failure (including an
/// exception from `produce`) the temporary file is removed and the previous `path`, if any, is kept.
inline void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& produce) {
    const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
    auto give_up = [&](const std::string& what) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        io_fail("recur::write_file_atomically: '", path.string(), "': ", what);
    };
    {
        std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
        if (!os) give_up("cannot create the temporary file '" + tmp.string() + "': " + std::strerror(errno));
        try {
            produce(os);
        } catch (...) {
            os.close();
            std::error_code ignored;
            std::filesystem::remove(tmp, ignored);
            throw;
        }
        os.close();
        if (!os) give_up("writing '" + tmp.string() + "' failed (disk full?)");
    }
    // fsync applies to the file, whichever descriptor asks.
    const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        give_up("fsync of '" + tmp.string() + "' failed: " + std::strerror(err));
    }
    ::close(fd);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) give_up(std::string("rename failed: ") + std::strerror(errno));
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
