// Checkpoint directories written atomically: every file goes into a temporary folder, which is
// fsync'ed and renamed into place, then the `latest` pointer file is replaced. Not here: what the files
// contain (trainer.hpp), who may write into a run folder (run_lock.hpp).
//
// Layout under a run's root:  root/step-00000100/...  root/latest (text: "step-00000100")
// A crash at any point leaves `latest` naming a complete checkpoint (or none): a folder is renamed
// into place only once all its files are durable, and re-writing an existing step swaps the new folder
// with the old one in one renameat2(RENAME_EXCHANGE), so the name never points at nothing. Stale
// temporaries (".tmp-*") are removed by the next write, or by remove_temporaries when a run starts.
#pragma once

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28)
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/io/atomic_file.hpp>
#include <recur/io/json_text.hpp>

namespace recur {

/// One file of a checkpoint: `write(path)` creates it (durably: fsync'ed, e.g. with
/// write_file_atomically or save_safetensors) at the given path inside the temporary folder.
struct checkpoint_file {
    std::string name;
    std::function<void(const std::filesystem::path&)> write;
};

inline std::string checkpoint_name(std::int64_t step) {
    std::ostringstream os;
    os << "step-" << std::setw(8) << std::setfill('0') << step;
    return os.str();
}

/// Removes every ".tmp-*" entry of `root` (what a killed writer left: temporary checkpoint folders
/// and write_file_atomically's temporary files). Only the run's owner, holding its run_lock, may call
/// it. Failures throw recur::io_error naming the entry.
inline void remove_temporaries(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().filename().string().rfind(".tmp-", 0) != 0) continue;
        fs::remove_all(it->path(), ec);
        if (ec) io_fail("recur::remove_temporaries: cannot remove '", it->path().string(), "': ", ec.message());
    }
    if (ec) io_fail("recur::remove_temporaries: cannot list the run folder '", root.string(), "': ", ec.message());
}

namespace detail {

/// Renames the complete folder `tmp` to `final_dir`. When `final_dir` exists (a step written again),
/// the two are exchanged atomically and the old one, now at `tmp`, removed. On a file system without
/// RENAME_EXCHANGE the old folder is moved aside first, which leaves a moment in which `final_dir`
/// is missing.
inline void publish_folder(const std::filesystem::path& tmp, const std::filesystem::path& final_dir) {
    namespace fs = std::filesystem;
    auto rename_or_fail = [](const fs::path& from, const fs::path& to) {
        if (::rename(from.c_str(), to.c_str()) != 0)
            io_fail("recur::write_checkpoint: renaming '", from.string(), "' to '", to.string(), "' failed: ",
                    errno_text(errno));
    };
    if (!fs::exists(final_dir)) return rename_or_fail(tmp, final_dir);
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
        fs::remove_all(tmp);  // the old checkpoint, swapped out
        return;
    }
    const int err = errno;
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
        io_fail("recur::write_checkpoint: exchanging '", tmp.string(), "' and '", final_dir.string(), "' failed: ",
                errno_text(err));
    const fs::path aside = tmp.parent_path() / (".tmp-old-" + final_dir.filename().string());
    rename_or_fail(final_dir, aside);
    rename_or_fail(tmp, final_dir);
    fs::remove_all(aside);
}

}  // namespace detail

/// Writes root/step-NNNNNNNN with `files`, points root/latest at it and keeps the newest `keep`
/// checkpoints (keep <= 0 keeps all). The run folder `root` must exist. Every file and folder is
/// fsync'ed before it is published. If a writer throws or the disk refuses (full, read-only, a
/// file-size limit, a failed fsync or rename), recur::io_error names the path and the reason, the
/// temporary folder is removed and `latest` still names the previous checkpoint, intact. Returns the
/// new folder.
inline std::filesystem::path write_checkpoint(const std::filesystem::path& root, std::int64_t step,
                                              const std::vector<checkpoint_file>& files, int keep = 2) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(root))
        io_fail("recur::write_checkpoint: the run folder '", root.string(), "' does not exist (removed while training?)");
    remove_temporaries(root);
    const std::string name = checkpoint_name(step);
    const fs::path tmp = root / (".tmp-" + name);
    const fs::path final_dir = root / name;
    if (::mkdir(tmp.c_str(), 0777) != 0)
        io_fail("recur::write_checkpoint: cannot create the folder '", tmp.string(), "': ", detail::errno_text(errno));
    auto discard = [&] {
        std::error_code ignored;
        fs::remove_all(tmp, ignored);
    };
    try {
        for (const auto& f : files) f.write(tmp / f.name);
        sync_directory(tmp);
        detail::publish_folder(tmp, final_dir);
        sync_directory(root);
    } catch (const fs::filesystem_error& e) {
        discard();
        io_fail("recur::write_checkpoint: '", final_dir.string(), "': ", e.what());
    } catch (...) {
        discard();
        throw;
    }
    write_file_atomically(root / "latest", name + "\n");
    if (keep > 0) {
        std::vector<fs::path> all;
        for (const auto& e : fs::directory_iterator(root))
            if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) all.push_back(e.path());
        std::sort(all.begin(), all.end());
        std::error_code ec;
        for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i)
            if (all[i] != final_dir && fs::remove_all(all[i], ec) == static_cast<std::uintmax_t>(-1))
                io_fail("recur::write_checkpoint: '", final_dir.string(), "' is written, but removing the old checkpoint '",
                        all[i].string(), "' failed: ", ec.message());
    }
    return final_dir;
}

/// The folder root/latest names, or nullopt when the run has no checkpoint yet. A `latest` that
/// names a missing folder is an io_error (never a silent restart from scratch).
inline std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root) {
    const auto pointer = root / "latest";
    if (!std::filesystem::exists(pointer)) return std::nullopt;
    std::ifstream f(pointer);
    std::string name;
    std::getline(f, name);
    // Only what checkpoint_name writes: "step-" and digits (no '/', NUL or other byte that would make
    // the path name another file).
    const bool digits = name.size() > 5 && std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (name.rfind("step-", 0) != 0 || !digits)
        io_fail("recur::latest_checkpoint: '", pointer.string(), "' does not name a checkpoint (got ",
                json_text(nlohmann::json(name)), ")");
    const auto dir = root / name;
    std::error_code ec;  // a name too long for the file system is as bad as a missing folder
    if (!std::filesystem::is_directory(dir, ec))
        io_fail("recur::latest_checkpoint: '", pointer.string(), "' names '", dir.string(), "', which does not exist");
    return dir;
}

}  // namespace recur
