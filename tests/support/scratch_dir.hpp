// A fresh temporary folder per test process (named with the pid, so parallel ctest runs never share
// one), removed when it goes out of scope. Not here: file contents; each test writes its own.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace recur::test {

class scratch_dir {
public:
    explicit scratch_dir(const std::string& name)
        : dir_(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    const std::filesystem::path& path() const { return dir_; }
    /// The path of `name` inside the folder, as a string.
    std::string operator/(const std::string& name) const { return (dir_ / name).string(); }
    /// Writes `bytes` to `name` inside the folder (creating subfolders) and returns its path.
    std::string write(const std::string& name, const std::string& bytes) const {
        const auto p = dir_ / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return p.string();
    }

private:
    std::filesystem::path dir_;
};

}  // namespace recur::test
