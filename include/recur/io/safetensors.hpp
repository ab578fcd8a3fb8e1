// safetensors: a validating memory-mapped reader, sharded sets, an atomic writer, any module's parameters.
// Not here: Hugging Face configs and layouts (hf.hpp); tensors other than F32, F64, BF16 and F16.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <concepts>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/error.hpp>
#include <recur/core/tensor.hpp>
#include <recur/io/atomic_file.hpp>
#include <recur/io/json_text.hpp>
#include <recur/io/read_text.hpp>
#include <recur/nn/module.hpp>

namespace recur {

static_assert(std::endian::native == std::endian::little,
              "recur/io/safetensors.hpp: safetensors data is little-endian; big-endian hosts are not supported");

/// The safetensors spelling of a dtype ("F32", "F64", "BF16", "F16"); recur::error for i32.
inline std::string_view safetensors_dtype_name(dtype t) {
    switch (t) {
        case dtype::f32: return "F32";
        case dtype::f64: return "F64";
        case dtype::bf16: return "BF16";
        case dtype::f16: return "F16";
        case dtype::i32: break;
    }
    fail("recur::safetensors: dtype ", t, " cannot be stored (use f32, f64, bf16 or f16)");
}

/// Where one tensor lives in a safetensors file.
struct safetensors_info {
    dtype type = dtype::f32;
    Shape shape;  ///< the file's shape; one of more than max_dims dimensions has its leading ones merged
    std::vector<std::int64_t> dims;  ///< the file's shape as written (at most safetensors_max_dims)
    std::uint64_t begin = 0;  ///< byte offset of the first element within the data section
    std::uint64_t end = 0;    ///< one past the last byte, within the data section
    std::uint64_t bytes() const { return end - begin; }
};

/// The most dimensions a tensor in a file may have (recur's own tensors have at most max_dims).
inline constexpr std::size_t safetensors_max_dims = 8;

/// String-to-string metadata ("__metadata__" in a file, e.g. {"format": "pt"}).
using safetensors_metadata = std::map<std::string, std::string>;

namespace detail {

/// A whole file mapped read-only (nothing is mapped for an empty file). Move-only.
class mapped_file {
public:
    mapped_file() = default;
    explicit mapped_file(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) io_fail("recur::safetensors: cannot open '", path, "': ", std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            io_fail("recur::safetensors: '", path, "' is not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int err = errno;
                ::close(fd);
                io_fail("recur::safetensors: cannot map '", path, "': ", std::strerror(err));
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
    }
    mapped_file(mapped_file&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            unmap();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() { unmap(); }

    std::span<const std::byte> bytes() const { return {data_, size_}; }

private:
    void unmap() noexcept {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = nullptr;
        size_ = 0;
    }
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Parses JSON text, reporting the first duplicated key of the top-level object in `duplicate`.
inline nlohmann::json parse_json_object_keys(std::string_view text, std::string& duplicate) {
    std::set<std::string> seen;
    auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (depth == 1 && event == nlohmann::json::parse_event_t::key && duplicate.empty()) {
            const auto key = parsed.get<std::string>();
            if (!seen.insert(key).second) duplicate = key;
        }
        return true;
    };
    return nlohmann::json::parse(text.begin(), text.end(), callback);
}

/// "a, b, c" for up to `most` names, then "and N more".
inline std::string name_list(const std::vector<std::string>& names, std::size_t most = 8) {
    std::ostringstream os;
    for (std::size_t i = 0; i < names.size() && i < most; ++i) os << (i ? ", '" : "'") << names[i] << "'";
    if (names.size() > most) os << " and " << names.size() - most << " more";
    return os.str();
}

/// Reads a whole (small) text file; io_error naming `what` and the path if it cannot.

}  // namespace detail

/// One .safetensors file: an 8-byte little-endian header length N, N bytes of JSON
/// ({name: {"dtype", "shape", "data_offsets": [begin, end]}, optional "__metadata__"}), then data.
///
/// The constructor validates everything before any tensor is read: the header's length, JSON and
/// types; dtypes; shapes (at most 4 dimensions, no overflow); that each byte range matches its shape
/// and dtype, lies inside the data section, and that the ranges tile it exactly (no overlap, gap or
/// trailing bytes). Each failure throws recur::io_error naming the file, the tensor and the problem.
/// The file stays memory-mapped while the object lives; it must not be truncated meanwhile.
class safetensors_file {
public:
    explicit safetensors_file(const std::filesystem::path& path) : path_(path.string()), map_(path_) {
        const auto file = map_.bytes();
        if (file.size() < 8)
            io_fail("recur::safetensors: '", path_, "': file of ", file.size(), " bytes is shorter than the 8-byte header length");
        std::uint64_t n = 0;
        std::memcpy(&n, file.data(), 8);
        if (n > file.size() - 8)
            io_fail("recur::safetensors: '", path_, "': header length ", n, " exceeds the ", file.size() - 8,
                    " bytes that follow it");
        data_ = file.subspan(8 + static_cast<std::size_t>(n));
        parse_header(std::string_view(reinterpret_cast<const char*>(file.data()) + 8, static_cast<std::size_t>(n)));
    }

    const std::string& path() const { return path_; }
    /// Tensor names, sorted.
    const std::vector<std::string>& names() const { return names_; }
    bool contains(const std::string& name) const { return entries_.count(name) == 1; }
    /// dtype, shape and byte range of `name`; io_error if the file has no such tensor.
    const safetensors_info& info(const std::string& name) const {
        const auto it = entries_.find(name);
        if (it == entries_.end()) io_fail("recur::safetensors: '", path_, "': no tensor '", name, "'");
        return it->second;
    }
    /// The "__metadata__" object (empty if the file has none).
    const safetensors_metadata& metadata() const { return metadata_; }

    /// The stored bytes of `name` (little-endian, in the file's dtype).
    std::span<const std::byte> bytes(const std::string& name) const {
        const auto& i = info(name);
        return data_.subspan(static_cast<std::size_t>(i.begin), static_cast<std::size_t>(i.bytes()));
    }
    /// Values of `name` in row-major order, converted to T (float or double).
    template <class T>
        requires std::same_as<T, float> || std::same_as<T, double>
    std::vector<T> read(const std::string& name) const {
        const auto& i = info(name);
        std::vector<T> out(static_cast<std::size_t>(i.shape.numel()));
        convert_host(out.data(), dtype_of<T>, bytes(name).data(), i.type, out.size());
        return out;
    }
    /// Values of `name` converted to f32 (from F32, F64, BF16 or F16).
    std::vector<float> read_f32(const std::string& name) const { return read<float>(name); }

    /// `name` as a new tensor on backend B in dtype `type` (default: B's compute dtype).
    template <Backend B>
    Tensor<B> tensor(const std::string& name, dtype type = Tensor<B>::compute_dtype) const {
        const auto& i = info(name);
        const auto src = bytes(name);
        Tensor<B> t = Tensor<B>::empty(i.shape, type);
        const auto n = static_cast<std::size_t>(i.shape.numel());
        if (n == 0) return t;
        if constexpr (B::is_host) {
            convert_host(t.raw_data(), type, src.data(), i.type, n);
        } else {
            std::vector<std::byte> staged(n * dtype_size(type));
            convert_host(staged.data(), type, src.data(), i.type, n);
            B::copy_from_host(t.raw_data(), staged.data(), staged.size());
        }
        return t;
    }

private:
    template <class... Parts>
    [[noreturn]] void bad(const std::string& tensor, Parts&&... parts) const {
        io_fail("recur::safetensors: '", path_, "': tensor '", tensor, "': ", std::forward<Parts>(parts)...);
    }

    /// A JSON value that must be a non-negative integer no larger than `limit`.
    std::uint64_t unsigned_value(const std::string& tensor, const char* key, const nlohmann::json& v,
                                 std::uint64_t limit) const {
        if (!v.is_number_integer()) bad(tensor, "'", key, "' holds ", v.dump(), ", expected a non-negative integer");
        if (!v.is_number_unsigned()) bad(tensor, "'", key, "' holds the negative value ", v.dump());
        const auto x = v.get<std::uint64_t>();
        if (x > limit) bad(tensor, "'", key, "' holds ", x, ", beyond the limit of ", limit);
        return x;
    }

    void parse_header(std::string_view text) {
        nlohmann::json header;
        std::string duplicate;
        try {
            header = detail::parse_json_object_keys(text, duplicate);
        } catch (const nlohmann::json::exception& e) {
            io_fail("recur::safetensors: '", path_, "': the header is not valid JSON: ", e.what());
        }
        if (!header.is_object())
            io_fail("recur::safetensors: '", path_, "': the header is JSON ", header.type_name(), ", expected an object");
        if (!duplicate.empty()) bad(duplicate, "appears twice in the header");
        for (const auto& [name, e] : header.items()) {
            if (name == "__metadata__") {
                parse_metadata(e);
                continue;
            }
            entries_.emplace(name, parse_entry(name, e));
            names_.push_back(name);
        }
        std::sort(names_.begin(), names_.end());
        check_tiling();
    }

    void parse_metadata(const nlohmann::json& m) {
        if (!m.is_object())
            io_fail("recur::safetensors: '", path_, "': '__metadata__' is JSON ", m.type_name(), ", expected an object");
        for (const auto& [k, v] : m.items()) {
            if (!v.is_string())
                io_fail("recur::safetensors: '", path_, "': '__metadata__' key '", k, "' holds JSON ", v.type_name(),
                        ", expected a string");
            metadata_[k] = v.get<std::string>();
        }
    }

    safetensors_info parse_entry(const std::string& name, const nlohmann::json& e) const {
        if (!e.is_object()) bad(name, "the entry is JSON ", e.type_name(), ", expected an object");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!e.contains(key)) bad(name, "the entry has no '", key, "'");
        safetensors_info info;
        const auto& d = e["dtype"];
        if (!d.is_string()) bad(name, "'dtype' holds JSON ", d.type_name(), ", expected a string");
        const auto dname = d.get<std::string>();
        bool known = false;
        for (const dtype t : {dtype::f32, dtype::f64, dtype::bf16, dtype::f16})
            if (dname == safetensors_dtype_name(t)) {
                info.type = t;
                known = true;
            }
        if (!known) bad(name, "unsupported dtype '", dname, "' (recur reads F32, F64, BF16 and F16)");

        const auto& s = e["shape"];
        if (!s.is_array()) bad(name, "'shape' holds JSON ", s.type_name(), ", expected an array");
        if (s.size() > safetensors_max_dims)
            bad(name, "'shape' has ", s.size(), " dimensions; recur reads at most ", safetensors_max_dims);
        // Bounding the product of the nonzero extents keeps every later size computation exact.
        constexpr std::uint64_t most = std::uint64_t{1} << 53;
        std::vector<std::int64_t> dims;
        std::uint64_t product = 1;
        for (const auto& v : s) {
            const std::uint64_t x = unsigned_value(name, "shape", v, most);
            if (x > 0 && product > most / x) bad(name, "shape ", s.dump(), " has an absurd number of elements");
            product *= std::max<std::uint64_t>(x, 1);
            dims.push_back(static_cast<std::int64_t>(x));
        }
        info.dims = dims;
        while (dims.size() > static_cast<std::size_t>(max_dims)) {
            dims[1] *= dims[0];
            dims.erase(dims.begin());
        }
        info.shape = Shape(std::span<const std::int64_t>(dims));

        const auto& o = e["data_offsets"];
        if (!o.is_array() || o.size() != 2) bad(name, "'data_offsets' holds ", o.dump(), ", expected [begin, end]");
        info.begin = unsigned_value(name, "data_offsets", o[0], std::numeric_limits<std::uint64_t>::max());
        info.end = unsigned_value(name, "data_offsets", o[1], std::numeric_limits<std::uint64_t>::max());
        if (info.begin > info.end) bad(name, "data_offsets [", info.begin, ", ", info.end, "] end before they begin");
        if (info.end > data_.size())
            bad(name, "data_offsets [", info.begin, ", ", info.end, "] run past the ", data_.size(), "-byte data section");
        const std::uint64_t want = static_cast<std::uint64_t>(info.shape.numel()) * dtype_size(info.type);
        if (info.bytes() != want)
            bad(name, "shape ", info.shape, " of ", dname, " needs ", want, " bytes, but data_offsets [", info.begin, ", ",
                info.end, "] hold ", info.bytes());
        return info;
    }

    /// The byte ranges, sorted, must cover the data section exactly once.
    void check_tiling() const {
        std::vector<std::pair<const std::string*, const safetensors_info*>> order;
        for (const auto& [n, i] : entries_) order.emplace_back(&n, &i);
        std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
            return std::pair(a.second->begin, a.second->end) < std::pair(b.second->begin, b.second->end);
        });
        std::uint64_t pos = 0;
        const std::string* previous = nullptr;
        for (const auto& [n, i] : order) {
            if (i->begin < pos)
                bad(*n, "data_offsets [", i->begin, ", ", i->end, "] overlap those of tensor '", *previous, "' (ending at ",
                    pos, ")");
            if (i->begin > pos)
                bad(*n, "data_offsets begin at ", i->begin, ", leaving a gap of ", i->begin - pos, " bytes after ",
                    previous ? "tensor '" + *previous + "'" : std::string("the header"));
            pos = i->end;
            previous = n;
        }
        if (pos != data_.size())
            io_fail("recur::safetensors: '", path_, "': ", data_.size() - pos, " bytes after the last tensor",
                    previous ? " ('" + *previous + "')" : std::string(), " belong to no tensor");
    }

    std::string path_;
    detail::mapped_file map_;
    std::span<const std::byte> data_;
    std::map<std::string, safetensors_info> entries_;
    std::vector<std::string> names_;
    safetensors_metadata metadata_;
};

/// The tensors of a checkpoint, from one .safetensors file or several shards, read as one set.
///
/// `path` may be a .safetensors file, a model.safetensors.index.json ({"metadata": {...},
/// "weight_map": {tensor: shard}}), or a directory holding model.safetensors or, failing that,
/// model.safetensors.index.json. For an index, every shard must exist, every tensor must be in the
/// shard the weight_map names, and no shard may hold a tensor the weight_map does not send to it
/// (so no tensor is in two shards). Failures throw recur::io_error naming the file and the tensor.
class safetensors_set {
public:
    explicit safetensors_set(const std::filesystem::path& path) : path_(path.string()) {
        namespace fs = std::filesystem;
        if (fs::is_directory(path)) {
            if (fs::exists(path / "model.safetensors")) {
                open_single(path / "model.safetensors");
            } else if (fs::exists(path / "model.safetensors.index.json")) {
                open_index(path / "model.safetensors.index.json");
            } else {
                io_fail("recur::safetensors_set: '", path_, "' holds neither model.safetensors nor model.safetensors.index.json");
            }
        } else if (path.extension() == ".json") {
            open_index(path);
        } else {
            open_single(path);
        }
        std::sort(names_.begin(), names_.end());
    }

    /// The file or directory this set was opened from (the index file for a sharded set).
    const std::string& path() const { return path_; }
    /// Every tensor name across the shards, sorted.
    const std::vector<std::string>& names() const { return names_; }
    bool contains(const std::string& name) const { return shard_of_.count(name) == 1; }
    /// The shard holding `name`; io_error if no shard has it.
    const safetensors_file& file_of(const std::string& name) const {
        const auto it = shard_of_.find(name);
        if (it == shard_of_.end()) io_fail("recur::safetensors_set: '", path_, "': no tensor '", name, "'");
        return shards_[it->second];
    }
    const std::vector<safetensors_file>& shards() const { return shards_; }
    /// Values in all tensors together.
    double values() const {
        double n = 0;
        for (const auto& name : names_) n += static_cast<double>(info(name).shape.numel());
        return n;
    }
    const safetensors_info& info(const std::string& name) const { return file_of(name).info(name); }
    /// The file's "__metadata__", or for an index its "metadata" (non-string values as JSON text).
    const safetensors_metadata& metadata() const { return metadata_; }
    template <class T>
    std::vector<T> read(const std::string& name) const {
        return file_of(name).template read<T>(name);
    }
    std::vector<float> read_f32(const std::string& name) const { return file_of(name).read_f32(name); }
    template <Backend B>
    Tensor<B> tensor(const std::string& name, dtype type = Tensor<B>::compute_dtype) const {
        return file_of(name).template tensor<B>(name, type);
    }

private:
    void open_single(const std::filesystem::path& file) {
        shards_.emplace_back(file);
        names_ = shards_[0].names();
        for (const auto& n : names_) shard_of_[n] = 0;
        metadata_ = shards_[0].metadata();
        path_ = file.string();
    }

    void open_index(const std::filesystem::path& index) {
        namespace fs = std::filesystem;
        path_ = index.string();
        const nlohmann::json j = detail::read_json_file(index, "recur::safetensors_set");
        if (!j.is_object()) io_fail("recur::safetensors_set: '", path_, "' is JSON ", j.type_name(), ", expected an object");
        if (const auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
            if (!m->is_object())
                io_fail("recur::safetensors_set: '", path_, "': 'metadata' is JSON ", m->type_name(), ", expected an object");
            for (const auto& [k, v] : m->items()) metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
        }
        const auto wm = j.find("weight_map");
        if (wm == j.end() || !wm->is_object())
            io_fail("recur::safetensors_set: '", path_, "': 'weight_map' is ",
                    wm == j.end() ? std::string("missing") : std::string("JSON ") + wm->type_name(), ", expected an object");
        std::map<std::string, std::string> shard_name;  // tensor -> shard file named by the index
        std::map<std::string, std::size_t> shard_index;
        for (const auto& [tensor, v] : wm->items()) {
            if (!v.is_string())
                io_fail("recur::safetensors_set: '", path_, "': weight_map entry for tensor '", tensor, "' is JSON ",
                        v.type_name(), ", expected a shard file name");
            const auto shard = v.get<std::string>();
            const fs::path rel(shard);
            const bool escapes = std::any_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; });
            if (shard.empty() || rel.is_absolute() || escapes)
                io_fail("recur::safetensors_set: '", path_, "': tensor '", tensor, "' maps to shard '", shard,
                        "', which is not a file name inside the index's folder");
            if (!shard_index.count(shard)) {
                const fs::path file = index.parent_path() / rel;
                std::error_code ec;  // a name the file system refuses (too long, ...) is the index's error too
                if (!fs::exists(file, ec))
                    io_fail("recur::safetensors_set: '", path_, "': shard '", shard, "' (holding tensor '", tensor,
                            "') ", ec ? "cannot be opened: " + ec.message() : std::string("does not exist"));
                shard_index[shard] = shards_.size();
                shards_.emplace_back(file);
            }
            shard_name[tensor] = shard;
        }
        for (const auto& [tensor, shard] : shard_name) {
            const auto i = shard_index.at(shard);
            if (!shards_[i].contains(tensor))
                io_fail("recur::safetensors_set: '", path_, "': weight_map puts tensor '", tensor, "' in shard '", shard,
                        "', which does not contain it");
            shard_of_[tensor] = i;
            names_.push_back(tensor);
        }
        for (const auto& [shard, i] : shard_index)
            for (const auto& tensor : shards_[i].names()) {
                const auto it = shard_name.find(tensor);
                if (it == shard_name.end())
                    io_fail("recur::safetensors_set: '", path_, "': shard '", shard, "' holds tensor '", tensor,
                            "', which the weight_map does not list");
                if (it->second != shard)
                    io_fail("recur::safetensors_set: '", path_, "': tensor '", tensor, "' is in shard '", shard,
                            "' and in shard '", it->second, "'");
            }
    }

    std::string path_;
    std::vector<safetensors_file> shards_;
    std::map<std::string, std::size_t> shard_of_;
    std::vector<std::string> names_;
    safetensors_metadata metadata_;
};

/// Named tensors in file order, for save_safetensors.
template <Backend B>
using named_tensors = std::vector<std::pair<std::string, Tensor<B>>>;

/// Writes `tensors` to a .safetensors file at `path`, converted to `type` (f32, f64, bf16 or f16;
/// bf16/f16 round to nearest even), in the given order, with `metadata` as "__metadata__" when not
/// empty. The JSON header is padded with spaces to a multiple of 8 bytes. The file is written
/// atomically (see write_file_atomically). Names must be unique, non-empty and not "__metadata__".
/// `file_shapes` gives the shape to write for tensors whose shape in the file has more dimensions than
/// recur's tensors can (the same number of elements).
template <Backend B>
void save_safetensors(const std::filesystem::path& path, const named_tensors<B>& tensors, dtype type = dtype::f32,
                      const safetensors_metadata& metadata = {},
                      const std::map<std::string, std::vector<std::int64_t>>& file_shapes = {}) {
    const auto type_name = safetensors_dtype_name(type);
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        check(!name.empty() && name != "__metadata__", "recur::save_safetensors: '", path.string(),
              "': invalid tensor name '", name, "'");
        check(!header.contains(name), "recur::save_safetensors: '", path.string(), "': tensor '", name,
              "' is given twice");
        check(t.defined(), "recur::save_safetensors: '", path.string(), "': tensor '", name, "' is undefined");
        const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * dtype_size(type);
        const auto dims = t.shape().dims();
        std::vector<std::int64_t> shape(dims.begin(), dims.end());
        if (const auto it = file_shapes.find(name); it != file_shapes.end()) {
            const auto n = std::accumulate(it->second.begin(), it->second.end(), std::int64_t{1}, std::multiplies<>());
            check(n == t.numel() && it->second.size() <= safetensors_max_dims, "recur::save_safetensors: '", path.string(),
                  "': tensor '", name, "': the file shape given does not hold its ", t.numel(), " elements");
            shape = it->second;
        }
        header[name] = {{"dtype", std::string(type_name)},
                        {"shape", shape},
                        {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = json_text(header);  // metadata values may be any bytes
    text.append((8 - text.size() % 8) % 8, ' ');
    write_file_atomically(path, [&](std::ostream& os) {
        const std::uint64_t n = text.size();
        os.write(reinterpret_cast<const char*>(&n), 8);
        os.write(text.data(), static_cast<std::streamsize>(text.size()));
        std::vector<std::byte> staged;
        for (const auto& [name, t] : tensors) {
            const Tensor<B> c = t.to(type);  // contiguous, converted
            const auto bytes = static_cast<std::size_t>(c.numel()) * dtype_size(type);
            if (bytes == 0) continue;
            const void* src = c.raw_data();
            if constexpr (!B::is_host) {
                staged.resize(bytes);
                B::copy_to_host(staged.data(), c.raw_data(), bytes);
                src = staged.data();
            }
            os.write(static_cast<const char*>(src), static_cast<std::streamsize>(bytes));
        }
    });
}

/// Which tensors of a file a module may leave unread (e.g. Hugging Face's rotary_emb.inv_freq).
using tensor_filter = std::function<bool(const std::string& name)>;

/// Replaces every parameter of `m` (as m.visit_parameters names it) with the tensor of that name in
/// `src`, converted to the parameter's dtype and marked requires_grad as the parameter was.
///
/// Everything is checked before anything is replaced: each parameter must be in `src` with the
/// parameter's shape, and every tensor in `src` must be a parameter of `m` unless `ignore` accepts
/// its name. Failures throw recur::io_error naming the file and the tensors (and both shapes).
template <Backend B, class M>
    requires has_parameters<M, B>
void load_parameters(M& m, const safetensors_set& src, const tensor_filter& ignore = {}) {
    const auto params = named_parameters<B>(m);
    std::set<std::string> wanted;
    std::vector<std::string> missing, unexpected;
    for (const auto& p : params) {
        check(p.tensor->defined(), "recur::load_parameters: parameter '", p.name, "' of the module is undefined");
        check(wanted.insert(p.name).second, "recur::load_parameters: the module names two parameters '", p.name, "'");
        if (!src.contains(p.name)) missing.push_back(p.name);
    }
    if (!missing.empty())
        io_fail("recur::load_parameters: '", src.path(), "': ", missing.size(), " tensor(s) of the module are missing: ",
                detail::name_list(missing));
    for (const auto& n : src.names())
        if (!wanted.count(n) && !(ignore && ignore(n))) unexpected.push_back(n);
    if (!unexpected.empty())
        io_fail("recur::load_parameters: '", src.path(), "': ", unexpected.size(),
                " tensor(s) in the file are not parameters of the module: ", detail::name_list(unexpected));
    for (const auto& p : params)
        if (src.info(p.name).shape != p.tensor->shape())
            io_fail("recur::load_parameters: '", src.path(), "': tensor '", p.name, "' has shape ", src.info(p.name).shape,
                    " in the file, but the module's parameter has shape ", p.tensor->shape());
    for (const auto& p : params) {
        Tensor<B> t = src.tensor<B>(p.name, p.tensor->dtype());
        if (p.tensor->requires_grad()) t.set_requires_grad();
        *p.tensor = std::move(t);
    }
}

/// Writes every parameter of `m` (named by m.visit_parameters) to a .safetensors file at `path`,
/// converted to `type`; see save_safetensors.
template <Backend B, class M>
    requires has_parameters<M, B>
void save_parameters(const std::filesystem::path& path, M& m, dtype type = dtype::f32,
                     const safetensors_metadata& metadata = {}) {
    named_tensors<B> tensors;
    m.visit_parameters("", [&](const std::string& name, Tensor<B>& t) { tensors.emplace_back(name, t); });
    save_safetensors<B>(path, tensors, type, metadata);
}

}  // namespace recur
