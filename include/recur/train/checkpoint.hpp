// Checkpoint directories written atomically: every file goes into a temporary folder, the folder is
// renamed into place, then the `latest` pointer file is replaced. Not here: what the files contain (trainer.hpp).
//
// Layout under a run's root:  root/step-00000100/...  root/latest (text: "step-00000100")
// A crash at any point leaves `latest` naming a complete checkpoint (or none); stale temporary
// folders (".tmp-*") are removed by the next write.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <recur/io/atomic_file.hpp>

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

/// Writes root/step-NNNNNNNN with `files`, points root/latest at it and keeps the newest `keep`
/// checkpoints (keep <= 0 keeps all). If a writer throws, nothing visible changes: the temporary
/// folder is removed and `latest` still names the previous checkpoint. Returns the new folder.
inline std::filesystem::path write_checkpoint(const std::filesystem::path& root, std::int64_t step,
                                              const std::vector<checkpoint_file>& files, int keep = 2) {
    namespace fs = std::filesystem;
    fs::create_directories(root);
    for (const auto& e : fs::directory_iterator(root))
        if (e.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove_all(e.path());
    const std::string name = checkpoint_name(step);
    const fs::path tmp = root / (".tmp-" + name);
    const fs::path final_dir = root / name;
    fs::create_directories(tmp);
    try {
        for (const auto& f : files) f.write(tmp / f.name);
    } catch (...) {
        std::error_code ignored;
        fs::remove_all(tmp, ignored);
        throw;
    }
    if (fs::exists(final_dir)) fs::remove_all(final_dir);  // a re-run of the same step replaces it
    fs::rename(tmp, final_dir);
    write_file_atomically(root / "latest", name + "\n");  // also fsyncs root, making the rename durable
    if (keep > 0) {
        std::vector<fs::path> all;
        for (const auto& e : fs::directory_iterator(root))
            if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) all.push_back(e.path());
        std::sort(all.begin(), all.end());
        for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i)
            if (all[i] != final_dir) fs::remove_all(all[i]);
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
    if (name.rfind("step-", 0) != 0 || name.find('/') != std::string::npos)
        io_fail("recur::latest_checkpoint: '", pointer.string(), "' does not name a checkpoint (got '", name, "')");
    const auto dir = root / name;
    std::error_code ec;  // a name too long for the file system is as bad as a missing folder
    if (!std::filesystem::is_directory(dir, ec))
        io_fail("recur::latest_checkpoint: '", pointer.string(), "' names '", dir.string(), "', which does not exist");
    return dir;
}

}  // namespace recur
