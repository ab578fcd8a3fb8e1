// GGUF, llama.cpp's checkpoint format (versions 2 and 3): header, metadata, tensor infos and aligned
// data, read through a memory map with every size checked against the file; f32, f16, bf16, the legacy
// quants (q8_0, q4_0, q4_1, q5_0, q5_1), the k-quants (q2_k to q6_k) and iq4_nl / iq4_xs dequantised on
// load; a "llama" architecture file as a LlamaModel, and its embedded vocabulary (byte-level BPE "gpt2"
// or SentencePiece "llama") as an hf_tokenizer, as transformers converts it.
// Not here: writing GGUF, the grid i-quants and ternary types (named in errors), other architectures.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/core/dtype.hpp>
#include <recur/core/error.hpp>
#include <recur/io/config_json.hpp>
#include <recur/io/hf_tokenizer.hpp>
#include <recur/io/safetensors.hpp>
#include <recur/nn/llama.hpp>

namespace recur {

/// One tensor of a GGUF file.
struct gguf_tensor_info {
    std::string name;
    std::vector<std::int64_t> ne;  ///< GGUF's order: ne[0] is the row length (the innermost dimension)
    std::uint32_t type = 0;        ///< ggml_type
    std::uint64_t offset = 0;      ///< within the data section
    std::uint64_t bytes = 0;

    /// recur's order (ne reversed): a (out, in) weight has ne = {in, out}.
    Shape shape() const {
        std::vector<std::int64_t> dims(ne.rbegin(), ne.rend());
        return Shape(std::span<const std::int64_t>(dims));
    }
    std::int64_t numel() const {
        std::int64_t n = 1;
        for (const auto d : ne) n *= d;
        return n;
    }
};

namespace detail {

/// A ggml tensor type: elements per block and bytes per block; `dequantised` when recur reads it.
struct ggml_type_traits {
    std::uint32_t id;
    std::string_view name;
    std::uint32_t block, bytes;
    bool dequantised;
};

inline constexpr std::array<ggml_type_traits, 31> ggml_types{{
    {0, "F32", 1, 4, true},        {1, "F16", 1, 2, true},        {2, "Q4_0", 32, 18, true},     {3, "Q4_1", 32, 20, true},
    {6, "Q5_0", 32, 22, true},     {7, "Q5_1", 32, 24, true},     {8, "Q8_0", 32, 34, true},     {9, "Q8_1", 32, 36, false},
    {10, "Q2_K", 256, 84, true},   {11, "Q3_K", 256, 110, true},  {12, "Q4_K", 256, 144, true},  {13, "Q5_K", 256, 176, true},
    {14, "Q6_K", 256, 210, true},  {15, "Q8_K", 256, 292, false}, {16, "IQ2_XXS", 256, 66, false}, {17, "IQ2_XS", 256, 74, false},
    {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false}, {20, "IQ4_NL", 32, 18, true}, {21, "IQ3_S", 256, 110, false},
    {22, "IQ2_S", 256, 82, false}, {23, "IQ4_XS", 256, 136, true}, {24, "I8", 1, 1, false},      {25, "I16", 1, 2, false},
    {26, "I32", 1, 4, false},      {27, "I64", 1, 8, false},      {28, "F64", 1, 8, false},      {29, "IQ1_M", 256, 56, false},
    {30, "BF16", 1, 2, true},      {34, "TQ1_0", 256, 54, false}, {35, "TQ2_0", 256, 66, false},
}};

/// The ggml types recur dequantises, for error messages: "F32, F16, ...".
inline std::string ggml_dequantised_names() {
    std::string out;
    for (const auto& t : ggml_types)
        if (t.dequantised) out += (out.empty() ? "" : ", ") + std::string(t.name);
    return out;
}

inline const ggml_type_traits* ggml_type_of(std::uint32_t id) {
    for (const auto& t : ggml_types)
        if (t.id == id) return &t;
    return nullptr;
}

/// Bounds-checked little-endian reads from the mapped header; errors name the file and what was read.
class gguf_cursor {
public:
    gguf_cursor(std::span<const std::byte> bytes, const std::string& path) : bytes_(bytes), path_(path) {}

    std::size_t position() const { return pos_; }
    std::size_t left() const { return bytes_.size() - pos_; }
    template <class T>
    T scalar(std::string_view what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string string(std::string_view what) {
        const auto n = scalar<std::uint64_t>(what);
        need(n, what);
        std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    void need(std::uint64_t n, std::string_view what) const {
        if (n > left())
            io_fail("recur::gguf: '", path_, "': ", what, " needs ", n, " bytes at offset ", pos_, ", but only ", left(),
                    " remain (truncated or corrupt file)");
    }

private:
    std::span<const std::byte> bytes_;
    std::string path_;
    std::size_t pos_ = 0;
};

/// GGUF metadata value types.
enum class gguf_value : std::uint32_t { u8, i8, u16, i16, u32, i32, f32, boolean, string, array, u64, i64, f64 };

/// The fewest bytes a value of type `t` takes (arrays: their type and count).
inline std::uint64_t gguf_min_bytes(std::uint32_t t) {
    constexpr std::uint64_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
    return t < 13 ? sizes[t] : 1;
}

inline nlohmann::json gguf_read_value(gguf_cursor& in, std::uint32_t type, const std::string& key, int depth,
                                      const std::string& path) {
    switch (static_cast<gguf_value>(type)) {
        case gguf_value::u8: return in.scalar<std::uint8_t>(key);
        case gguf_value::i8: return in.scalar<std::int8_t>(key);
        case gguf_value::u16: return in.scalar<std::uint16_t>(key);
        case gguf_value::i16: return in.scalar<std::int16_t>(key);
        case gguf_value::u32: return in.scalar<std::uint32_t>(key);
        case gguf_value::i32: return in.scalar<std::int32_t>(key);
        case gguf_value::f32: return static_cast<double>(in.scalar<float>(key));
        case gguf_value::boolean: {
            const auto b = in.scalar<std::uint8_t>(key);
            if (b > 1) io_fail("recur::gguf: '", path, "': metadata '", key, "': boolean byte ", int(b), " is neither 0 nor 1");
            return b == 1;
        }
        case gguf_value::string: return in.string(key);
        case gguf_value::u64: return in.scalar<std::uint64_t>(key);
        case gguf_value::i64: return in.scalar<std::int64_t>(key);
        case gguf_value::f64: return in.scalar<double>(key);
        case gguf_value::array: {
            if (depth >= 4) io_fail("recur::gguf: '", path, "': metadata '", key, "': arrays nested deeper than 4");
            const auto inner = in.scalar<std::uint32_t>(key);
            const auto n = in.scalar<std::uint64_t>(key);
            if (inner > 12) io_fail("recur::gguf: '", path, "': metadata '", key, "': array of unknown value type ", inner);
            // Every element takes at least gguf_min_bytes: a count the file cannot hold allocates nothing.
            if (n > in.left() / gguf_min_bytes(inner))
                io_fail("recur::gguf: '", path, "': metadata '", key, "': array of ", n, " elements cannot fit in the ",
                        in.left(), " bytes left");
            nlohmann::json a = nlohmann::json::array();
            a.get_ref<nlohmann::json::array_t&>().reserve(static_cast<std::size_t>(n));
            for (std::uint64_t i = 0; i < n; ++i) a.push_back(gguf_read_value(in, inner, key, depth + 1, path));
            return a;
        }
    }
    io_fail("recur::gguf: '", path, "': metadata '", key, "': unknown value type ", type);
}

/// The elements of one block of a quantised ggml type (32 or 256 of them, see ggml_types) at `b`,
/// computed as llama.cpp's `gguf` package does: each product and sum rounded to f32 in the same order,
/// never contracted to a fused multiply-add. Layouts (ggml's block structs, little-endian, f16 scales):
///   Q8_0  d, int8 q[32]: d q                      Q4_0  d, nibbles[16]: d (q - 8)
///   Q4_1  d, m, nibbles[16]: d q + m              Q5_0  d, high bits u32, nibbles[16]: d (q - 16)
///   Q5_1  d, m, high bits u32, nibbles[16]: d q + m
///   Q2_K  4-bit scale and min[16], 2-bit q[64], d, dmin: (d sc) q - (dmin m), 16 sub-blocks of 16
///   Q3_K  high-bit mask[32], 2-bit q[64], 6-bit scales packed in 12 bytes, d: (d (sc - 32)) (q - 4 [bit clear])
///   Q4_K  d, dmin, 6-bit scales and mins packed in 12 bytes, nibbles[128]: (d sc) q - (dmin m), 8 of 32
///   Q5_K  as Q4_K with a high-bit mask[32] before the nibbles
///   Q6_K  low nibbles[128], 2-bit highs[64], int8 scales[16], d: (d sc) (q - 32), 16 sub-blocks of 16
///   IQ4_NL  d, nibbles[16]: d table[q]        IQ4_XS  d, high scale bits u16, low scale nibbles[4],
///                                              nibbles[128]: (d (sc - 32)) table[q], 8 sub-blocks of 32
/// Where 32-element blocks hold nibbles, element j < 16 is byte j's low nibble and j + 16 its high one.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
inline void dequantise_block(const std::byte* b, std::uint32_t type, float* out) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const auto u8 = [&](std::size_t at) { return static_cast<unsigned>(b[at]); };
    const auto half = [&](std::size_t at) {
        std::uint16_t h;
        std::memcpy(&h, b + at, 2);
        return f16_to_f32(h);
    };
    const auto u32 = [&](std::size_t at) {
        std::uint32_t v;
        std::memcpy(&v, b + at, 4);
        return v;
    };
    // 4-bit index -> value of IQ4_NL and IQ4_XS (llama.cpp's kvalues_iq4nl).
    static constexpr std::array<int, 16> iq4_table = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    // Q4_K and Q5_K: the 6-bit scale and min of sub-block j (of 8) from the 12 packed bytes at `at`.
    const auto scale_min = [&](std::size_t at, int j, float& sc, float& mn) {
        const auto q = [&](int i) { return u8(at + static_cast<std::size_t>(i)); };
        sc = static_cast<float>(j < 4 ? q(j) & 63u : (q(j + 4) & 0xFu) | ((q(j - 4) >> 6) << 4));
        mn = static_cast<float>(j < 4 ? q(j + 4) & 63u : (q(j + 4) >> 4) | ((q(j) >> 6) << 4));
    };
    switch (type) {
        case 8: {  // Q8_0
            const float d = half(0);
            for (int i = 0; i < 32; ++i) out[i] = d * static_cast<float>(static_cast<std::int8_t>(b[2 + i]));
            return;
        }
        case 2:
        case 3:
        case 6:
        case 7:
        case 20: {  // 32 elements from nibbles (and for Q5_x a fifth bit from a u32)
            const float d = half(0);
            const bool has_min = type == 3 || type == 7, five = type == 6 || type == 7;
            const float m = has_min ? half(2) : 0.0f;
            const std::size_t high_at = has_min ? 4 : 2, qs_at = high_at + (five ? 4 : 0);
            const std::uint32_t high = five ? u32(high_at) : 0;
            for (int j = 0; j < 32; ++j) {
                const unsigned nib = j < 16 ? u8(qs_at + static_cast<std::size_t>(j)) & 0xFu : u8(qs_at + static_cast<std::size_t>(j - 16)) >> 4;
                const int q = static_cast<int>(nib | (((high >> j) & 1u) << 4));
                switch (type) {
                    case 2: out[j] = static_cast<float>(q - 8) * d; break;
                    case 3:
                    case 7: out[j] = d * static_cast<float>(q) + m; break;
                    case 6: out[j] = d * static_cast<float>(q - 16); break;
                    default: out[j] = d * static_cast<float>(iq4_table[static_cast<std::size_t>(q)]); break;
                }
            }
            return;
        }
        case 10: {  // Q2_K: scales[16], qs[64], d, dmin
            const float d = half(80), dmin = half(82);
            for (int k = 0; k < 16; ++k) {  // 16 groups of 16 with a 4-bit scale and min each
                const unsigned sc = u8(static_cast<std::size_t>(k));
                const float dl = d * static_cast<float>(sc & 0xFu), ml = dmin * static_cast<float>(sc >> 4);
                for (int p = 16 * k; p < 16 * k + 16; ++p) {
                    const int h = p / 128, s = (p / 32) % 4, l = p % 32;
                    const unsigned q = (u8(16 + static_cast<std::size_t>(h * 32 + l)) >> (2 * s)) & 3u;
                    out[p] = dl * static_cast<float>(q) - ml;
                }
            }
            return;
        }
        case 11: {  // Q3_K: hmask[32], qs[64], scales[12], d
            const float d = half(108);
            for (int k = 0; k < 16; ++k) {  // 16 groups of 16 with a 6-bit scale each
                const unsigned low = k < 8 ? u8(96 + static_cast<std::size_t>(k)) & 0xFu : u8(96 + static_cast<std::size_t>(k - 8)) >> 4;
                const unsigned hi = (u8(104 + static_cast<std::size_t>(k % 4)) >> (2 * (k / 4))) & 3u;
                const float dl = d * static_cast<float>(static_cast<int>(low | (hi << 4)) - 32);
                for (int p = 16 * k; p < 16 * k + 16; ++p) {
                    const int h = p / 128, s = (p / 32) % 4, l = p % 32;
                    const int q2 = static_cast<int>((u8(32 + static_cast<std::size_t>(h * 32 + l)) >> (2 * s)) & 3u);
                    const bool bit = (u8(static_cast<std::size_t>(l)) >> (4 * h + s)) & 1u;
                    out[p] = dl * static_cast<float>(q2 - (bit ? 0 : 4));
                }
            }
            return;
        }
        case 12:
        case 13: {  // Q4_K: d, dmin, scales[12], qs[128]; Q5_K: the same with qh[32] before qs
            const float d = half(0), dmin = half(2);
            const bool five = type == 13;
            const std::size_t qs_at = five ? 48 : 16;
            for (int j = 0; j < 8; ++j) {
                float sc, mn;
                scale_min(4, j, sc, mn);
                const float dl = d * sc, ml = dmin * mn;
                for (int l = 0; l < 32; ++l) {
                    const unsigned byte = u8(qs_at + static_cast<std::size_t>((j / 2) * 32 + l));
                    unsigned q = (j % 2 ? byte >> 4 : byte & 0xFu);
                    if (five) q |= ((u8(16 + static_cast<std::size_t>(l)) >> j) & 1u) << 4;
                    out[j * 32 + l] = dl * static_cast<float>(q) - ml;
                }
            }
            return;
        }
        case 14: {  // Q6_K: ql[128], qh[64], scales[16] (int8), d
            const float d = half(208);
            for (int k = 0; k < 16; ++k) {  // 16 groups of 16 with an int8 scale each
                const float dl = d * static_cast<float>(static_cast<std::int8_t>(b[192 + static_cast<std::size_t>(k)]));
                for (int p = 16 * k; p < 16 * k + 16; ++p) {
                    const int h = p / 128, s = (p / 32) % 4, l = p % 32;
                    const unsigned lo = (u8(static_cast<std::size_t>(h * 64 + (s % 2) * 32 + l)) >> (4 * (s / 2))) & 0xFu;
                    const unsigned hi = (u8(128 + static_cast<std::size_t>(h * 32 + l)) >> (2 * s)) & 3u;
                    out[p] = dl * static_cast<float>(static_cast<int>(lo | (hi << 4)) - 32);
                }
            }
            return;
        }
        case 23: {  // IQ4_XS: d, scales_h (u16), scales_l[4], qs[128]
            const float d = half(0);
            const unsigned scales_h = u8(2) | (u8(3) << 8);
            for (int ib = 0; ib < 8; ++ib) {
                const unsigned low = (u8(4 + static_cast<std::size_t>(ib / 2)) >> (4 * (ib % 2))) & 0xFu;
                const unsigned hi = (scales_h >> (2 * ib)) & 3u;
                const float dl = d * static_cast<float>(static_cast<int>(low | (hi << 4)) - 32);
                for (int j = 0; j < 32; ++j) {
                    const unsigned byte = u8(8 + static_cast<std::size_t>(ib * 16 + j % 16));
                    out[ib * 32 + j] = dl * static_cast<float>(iq4_table[j < 16 ? byte & 0xFu : byte >> 4]);
                }
            }
            return;
        }
        default: fail("recur::gguf: no dequantisation for ggml type ", type);
    }
}

}  // namespace detail

/// A GGUF file, mapped and checked: magic, version 2 or 3, metadata (every key once, arrays no larger
/// than the file), tensor infos (unique names, at most 4 dimensions, known types, rows a whole number
/// of blocks, offsets aligned, inside the data section and not overlapping). Every failure throws
/// recur::io_error naming the file and the key or tensor. The file stays mapped while the object lives.
class gguf_file {
public:
    explicit gguf_file(const std::filesystem::path& path) : path_(path.string()), map_(path_) {
        const auto bytes = map_.bytes();
        detail::gguf_cursor in(bytes, path_);
        const auto magic = in.scalar<std::uint32_t>("the magic");
        if (magic != 0x46554747u) io_fail("recur::gguf: '", path_, "' does not start with GGUF's magic \"GGUF\"");
        version_ = in.scalar<std::uint32_t>("the version");
        if (version_ != 2 && version_ != 3)
            io_fail("recur::gguf: '", path_, "': version ", version_, " is not supported (recur reads 2 and 3)");
        const auto n_tensors = in.scalar<std::uint64_t>("the tensor count");
        const auto n_kv = in.scalar<std::uint64_t>("the metadata count");
        if (n_kv > in.left() / 13 || n_tensors > in.left() / 24)
            io_fail("recur::gguf: '", path_, "': ", n_kv, " metadata entries and ", n_tensors,
                    " tensors cannot fit in a file of ", bytes.size(), " bytes");
        metadata_ = nlohmann::json::object();
        for (std::uint64_t i = 0; i < n_kv; ++i) {
            std::string key = in.string("a metadata key");
            const auto type = in.scalar<std::uint32_t>(key);
            nlohmann::json value = detail::gguf_read_value(in, type, key, 0, path_);
            if (metadata_.contains(key)) io_fail("recur::gguf: '", path_, "': metadata '", key, "' appears twice");
            metadata_[key] = std::move(value);
        }
        alignment_ = 32;
        if (const auto a = optional_integer("general.alignment")) {
            if (*a <= 0 || *a > (1 << 20) || (*a & (*a - 1)) != 0)
                io_fail("recur::gguf: '", path_, "': general.alignment ", *a, " is not a power of two up to 2^20");
            alignment_ = static_cast<std::uint64_t>(*a);
        }
        tensors_.reserve(static_cast<std::size_t>(n_tensors));
        for (std::uint64_t i = 0; i < n_tensors; ++i) tensors_.push_back(read_tensor_info(in));
        const std::uint64_t start = (in.position() + alignment_ - 1) / alignment_ * alignment_;
        if (start <= bytes.size())
            data_ = bytes.subspan(static_cast<std::size_t>(start));
        else if (!tensors_.empty())  // a file without tensors may end before the padding
            io_fail("recur::gguf: '", path_, "': the data section would start at ", start, ", past the end of the ",
                    bytes.size(), "-byte file");
        check_layout();
    }

    const std::string& path() const { return path_; }
    std::uint32_t version() const { return version_; }
    std::uint64_t alignment() const { return alignment_; }
    /// Every metadata key with its value (numbers, booleans, strings, arrays as JSON arrays).
    const nlohmann::json& metadata() const { return metadata_; }
    const std::vector<gguf_tensor_info>& tensors() const { return tensors_; }
    const gguf_tensor_info* find(std::string_view name) const {
        const auto it = index_.find(std::string(name));
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    const gguf_tensor_info& info(std::string_view name) const {
        const auto* t = find(name);
        if (!t) io_fail("recur::gguf: '", path_, "': no tensor '", name, "'");
        return *t;
    }

    /// Typed metadata; a present key of the wrong type, or a missing required one, throws naming it.
    std::optional<std::int64_t> optional_integer(const std::string& key) const {
        const auto it = metadata_.find(key);
        if (it == metadata_.end()) return std::nullopt;
        if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
            bad_key(key, "holds ", it->dump(), ", too large");
        if (!it->is_number_integer()) bad_key(key, "holds ", it->dump(), ", expected an integer");
        return it->get<std::int64_t>();
    }
    std::int64_t positive(const std::string& key, std::optional<std::int64_t> fallback = std::nullopt) const {
        const auto v = optional_integer(key);
        if (!v && !fallback) bad_key(key, "is missing");
        const auto x = v.value_or(fallback.value_or(0));
        if (x <= 0 || x > (std::int64_t{1} << 40)) bad_key(key, "must be positive, got ", x);
        return x;
    }
    double number(const std::string& key, double fallback) const {
        const auto it = metadata_.find(key);
        if (it == metadata_.end()) return fallback;
        if (!it->is_number()) bad_key(key, "holds ", it->dump(), ", expected a number");
        return it->get<double>();
    }
    std::optional<std::string> string(const std::string& key) const {
        const auto it = metadata_.find(key);
        if (it == metadata_.end()) return std::nullopt;
        if (!it->is_string()) bad_key(key, "holds a ", it->type_name(), ", expected a string");
        return it->get<std::string>();
    }
    bool boolean(const std::string& key, bool fallback) const {
        const auto it = metadata_.find(key);
        if (it == metadata_.end()) return fallback;
        if (!it->is_boolean()) bad_key(key, "holds ", it->dump(), ", expected true or false");
        return it->get<bool>();
    }
    template <class... Parts>
    [[noreturn]] void bad_key(const std::string& key, Parts&&... parts) const {
        io_fail("recur::gguf: '", path_, "': metadata '", key, "' ", std::forward<Parts>(parts)...);
    }

    /// The values of tensor `name`, dequantised to f32, in recur's row-major order (shape()).
    std::vector<float> read_f32(std::string_view name) const {
        const auto& t = info(name);
        const auto& traits = *detail::ggml_type_of(t.type);
        if (!traits.dequantised)
            io_fail("recur::gguf: '", path_, "': tensor '", name, "' is ", traits.name,
                    "; recur dequantises ", detail::ggml_dequantised_names());
        const auto n = static_cast<std::size_t>(t.numel());
        std::vector<float> out(n);
        const std::byte* src = data_.data() + t.offset;
        switch (t.type) {
            case 0: convert_host(out.data(), dtype::f32, src, dtype::f32, n); break;
            case 1: convert_host(out.data(), dtype::f32, src, dtype::f16, n); break;
            case 30: convert_host(out.data(), dtype::f32, src, dtype::bf16, n); break;
            default:
                for (std::size_t b = 0; b < n / traits.block; ++b)
                    detail::dequantise_block(src + b * traits.bytes, t.type, out.data() + b * traits.block);
        }
        return out;
    }
    /// Tensor `name` dequantised, as a tensor on B in its compute dtype.
    template <Backend B>
    Tensor<B> tensor(std::string_view name) const {
        return Tensor<B>::from_host(read_f32(name), info(name).shape());
    }

private:
    gguf_tensor_info read_tensor_info(detail::gguf_cursor& in) {
        gguf_tensor_info t;
        t.name = in.string("a tensor name");
        auto bad = [&](auto&&... parts) {
            io_fail("recur::gguf: '", path_, "': tensor '", t.name, "': ", std::forward<decltype(parts)>(parts)...);
        };
        if (index_.count(t.name)) bad("the name appears twice");
        const auto dims = in.scalar<std::uint32_t>(t.name);
        if (dims < 1 || dims > static_cast<std::uint32_t>(max_dims)) bad(dims, " dimensions; recur reads 1 to ", max_dims);
        constexpr std::uint64_t most = std::uint64_t{1} << 53;
        std::uint64_t count = 1;
        for (std::uint32_t d = 0; d < dims; ++d) {
            const auto n = in.scalar<std::uint64_t>(t.name);
            if (n == 0 || n > most || count > most / n) bad("dimension ", d, " is ", n, " (zero, or the product is absurd)");
            count *= n;
            t.ne.push_back(static_cast<std::int64_t>(n));
        }
        t.type = in.scalar<std::uint32_t>(t.name);
        const auto* traits = detail::ggml_type_of(t.type);
        if (!traits) bad("unknown ggml type ", t.type);
        if (static_cast<std::uint64_t>(t.ne[0]) % traits->block != 0)
            bad("rows of ", t.ne[0], " elements are not a whole number of ", traits->name, " blocks of ", traits->block);
        t.bytes = count / traits->block * traits->bytes;
        t.offset = in.scalar<std::uint64_t>(t.name);
        if (t.offset % alignment_ != 0) bad("offset ", t.offset, " is not a multiple of the alignment ", alignment_);
        index_[t.name] = tensors_.size();
        return t;
    }
    /// Every tensor inside the data section; none overlapping another.
    void check_layout() const {
        std::vector<const gguf_tensor_info*> order;
        for (const auto& t : tensors_) order.push_back(&t);
        std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return a->offset < b->offset; });
        for (std::size_t i = 0; i < order.size(); ++i) {
            const auto& t = *order[i];
            if (t.offset > data_.size() || t.bytes > data_.size() - t.offset)
                io_fail("recur::gguf: '", path_, "': tensor '", t.name, "' (", t.bytes, " bytes at ", t.offset,
                        ") runs past the ", data_.size(), "-byte data section");
            if (i + 1 < order.size() && t.offset + t.bytes > order[i + 1]->offset)
                io_fail("recur::gguf: '", path_, "': tensors '", t.name, "' and '", order[i + 1]->name, "' overlap");
        }
    }

    std::string path_;
    detail::mapped_file map_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = 32;
    nlohmann::json metadata_;
    std::vector<gguf_tensor_info> tensors_;
    std::map<std::string, std::size_t> index_;
    std::span<const std::byte> data_;
};

/// True when `path` is a regular file starting with GGUF's magic.
inline bool is_gguf_file(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    char magic[4] = {};
    return f.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

namespace detail {
/// Llama-3's RoPE scaling from a GGUF's rope_freqs.weight (none without it). llama.cpp's converter
/// stores the divisor of each of the head_dim / 2 frequencies that HF's llama3 rope_scaling gives
/// (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings), not the parameters;
/// the largest divisor is the factor, and the published low 1 and high 4 with the original context
/// fitted from a smoothly scaled frequency (else 8192) must reproduce every divisor to 1e-4, or the
/// file is refused naming the tensor.
inline std::optional<llama3_rope_scaling> gguf_llama3_scaling(const gguf_file& f, double theta, std::int64_t head_dim) {
    const auto* t = f.find("rope_freqs.weight");
    if (!t) return std::nullopt;
    const auto bad = [&](auto&&... parts) { io_fail("recur::gguf: '", f.path(), "': tensor 'rope_freqs.weight' ", parts...); };
    if (t->ne.size() != 1 || t->ne[0] != head_dim / 2) bad("has shape ", t->shape(), ", expected (", head_dim / 2, ")");
    const std::vector<float> divisors = f.read_f32("rope_freqs.weight");
    for (const float d : divisors)
        if (!(d >= 1.0f && d < 1e6f)) bad("holds ", d, "; llama3 scaling divides frequencies by factors in [1, 1e6)");
    const double factor = *std::max_element(divisors.begin(), divisors.end());
    if (factor == 1.0) return std::nullopt;
    llama3_rope_scaling s{.factor = factor, .low_freq_factor = 1.0, .high_freq_factor = 4.0, .original_max_position_embeddings = 8192};
    const auto inv = [&](std::size_t i) { return std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim)); };
    std::vector<double> candidates;
    for (std::size_t i = 0; i < divisors.size(); ++i)
        if (divisors[i] > 1.0f + 1e-4f && divisors[i] < static_cast<float>(factor) * (1.0f - 1e-4f)) {
            const double smooth = (1.0 / divisors[i] - 1.0 / factor) / (1.0 - 1.0 / factor);
            const double wavelen = 2 * std::numbers::pi / inv(i);
            const double original = std::round(wavelen * (smooth * (s.high_freq_factor - s.low_freq_factor) + s.low_freq_factor));
            if (std::find(candidates.begin(), candidates.end(), original) == candidates.end()) candidates.push_back(original);
        }
    if (std::find(candidates.begin(), candidates.end(), 8192.0) == candidates.end()) candidates.push_back(8192);
    for (const double original : candidates) {
        if (!(original > 0 && original < 1e9)) continue;
        s.original_max_position_embeddings = original;
        rope_config plain;
        plain.theta = theta;
        rope_config scaled = plain;
        scaled.scaling = s;
        const auto a = rope_inv_freq(plain, head_dim), b = rope_inv_freq(scaled, head_dim);
        bool all = true;
        for (std::size_t i = 0; i < divisors.size() && all; ++i) all = std::abs(a[i] / b[i] - divisors[i]) <= 1e-4 * divisors[i];
        if (all) return s;
    }
    io_fail("recur::gguf: '", f.path(), "': tensor 'rope_freqs.weight' is not llama3 scaling with factor ", factor,
            ", low_freq_factor 1 and high_freq_factor 4 for any original context");
}
}  // namespace detail

/// The model_config of a GGUF file of architecture "llama": embedding_length, block_count,
/// feed_forward_length, attention.head_count (.head_count_kv, .layer_norm_rms_epsilon),
/// rope.freq_base (10000), rope.dimension_count (= the head width), context_length (2048); the
/// vocabulary is token_embd.weight's rows; the head is tied when output.weight is absent. llama.cpp
/// stores q and k rows for RoPE on interleaved pairs, so the layout is interleaved; Llama-3's RoPE
/// scaling comes from rope_freqs.weight (gguf_llama3_scaling). Other architectures, other RoPE
/// scaling (rope.scaling.type) and inconsistent values throw recur::io_error naming the file and key.
inline model_config gguf_llama_config(const gguf_file& f) {
    const auto arch = f.string("general.architecture");
    if (!arch) f.bad_key("general.architecture", "is missing");
    if (*arch != "llama") f.bad_key("general.architecture", "is '", *arch, "'; recur reads 'llama'");
    const std::string p = "llama.";
    model_config c;
    c.d_model = f.positive(p + "embedding_length");
    c.n_layers = f.positive(p + "block_count");
    c.ffn_dim = f.positive(p + "feed_forward_length");
    c.n_heads = f.positive(p + "attention.head_count");
    c.n_kv_heads = f.positive(p + "attention.head_count_kv", c.n_heads);
    c.max_seq_len = f.positive(p + "context_length", 2048);
    c.norm_eps = f.number(p + "attention.layer_norm_rms_epsilon", 1e-5);
    c.rope.theta = f.number(p + "rope.freq_base", 10000.0);
    c.rope.layout = rope_layout::interleaved;
    if (c.d_model % c.n_heads != 0) f.bad_key(p + "embedding_length", "(", c.d_model, ") is not divisible by the head count ", c.n_heads);
    const std::int64_t hd = f.positive(p + "attention.key_length", c.d_model / c.n_heads);
    if (f.positive(p + "attention.value_length", hd) != hd) f.bad_key(p + "attention.value_length", "differs from key_length");
    if (hd != c.d_model / c.n_heads) c.head_dim = hd;
    if (f.positive(p + "rope.dimension_count", hd) != hd)
        f.bad_key(p + "rope.dimension_count", "(", f.positive(p + "rope.dimension_count"), ") is not the head width ", hd,
                  "; partial RoPE is not supported");
    if (const auto s = f.string(p + "rope.scaling.type"); s && *s != "none")
        f.bad_key(p + "rope.scaling.type", "is '", *s, "'; recur reads llama3 scaling (rope_freqs.weight) and none");
    c.rope.scaling = detail::gguf_llama3_scaling(f, c.rope.theta, hd);
    const auto& embed = f.info("token_embd.weight");
    if (embed.ne.size() != 2 || embed.ne[0] != c.d_model)
        io_fail("recur::gguf: '", f.path(), "': tensor 'token_embd.weight' has shape ", embed.shape(),
                ", expected (vocab, ", c.d_model, ")");
    c.vocab_size = embed.ne[1];
    if (const auto v = f.optional_integer(p + "vocab_size"); v && *v != c.vocab_size)
        f.bad_key(p + "vocab_size", "(", *v, ") differs from token_embd.weight's ", c.vocab_size, " rows");
    c.tie_embeddings = f.find("output.weight") == nullptr;
    try {
        c.validate();
    } catch (const error& e) {
        io_fail("recur::gguf: '", f.path(), "': ", e.what());
    }
    return c;
}

/// The GGUF name of a LlamaModel parameter ("model.layers.3.self_attn.q_proj.weight" ->
/// "blk.3.attn_q.weight"), or "" for none.
inline std::string gguf_tensor_name(std::string_view name) {
    static const std::map<std::string, std::string, std::less<>> layer{
        {"input_layernorm.weight", "attn_norm.weight"},     {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},       {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},  {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"}};
    if (name == "model.embed_tokens.weight") return "token_embd.weight";
    if (name == "model.norm.weight") return "output_norm.weight";
    if (name == "lm_head.weight") return "output.weight";
    constexpr std::string_view prefix = "model.layers.";
    if (!name.starts_with(prefix)) return "";
    const auto dot = name.find('.', prefix.size());
    if (dot == std::string_view::npos) return "";
    const auto it = layer.find(name.substr(dot + 1));
    if (it == layer.end()) return "";
    return "blk." + std::string(name.substr(prefix.size(), dot - prefix.size())) + "." + it->second;
}

/// Loads a GGUF file of architecture "llama" as a LlamaModel (see gguf_llama_config), every tensor
/// dequantised to B's compute dtype. Each parameter must be in the file with its shape, and every
/// tensor of the file must be a parameter; errors name the file and the tensor.
template <Backend B>
LlamaModel<B> load_gguf(const std::filesystem::path& path) {
    const gguf_file f(path);
    const model_config c = gguf_llama_config(f);
    double values = 0;
    for (const auto& t : f.tensors()) values += static_cast<double>(t.numel());
    check_model_size(c, static_cast<double>(c.n_layers), f.path(), values);
    LlamaModel<B> m(c, rng::for_loading());
    std::vector<std::pair<std::string, Tensor<B>*>> params;
    m.visit_parameters("", [&](const std::string& name, Tensor<B>& t) { params.emplace_back(name, &t); });
    std::vector<std::string> used;
    for (const auto& [name, t] : params) {
        const std::string g = gguf_tensor_name(name);
        const auto* info = g.empty() ? nullptr : f.find(g);
        if (!info) io_fail("recur::load_gguf: '", f.path(), "': tensor '", g.empty() ? name : g, "' is missing");
        if (info->shape() != t->shape())
            io_fail("recur::load_gguf: '", f.path(), "': tensor '", g, "' has shape ", info->shape(), ", expected ", t->shape());
        used.push_back(g);
    }
    used.push_back("rope_freqs.weight");  // read into the config's RoPE scaling
    std::sort(used.begin(), used.end());
    for (const auto& t : f.tensors())
        if (!std::binary_search(used.begin(), used.end(), t.name))
            io_fail("recur::load_gguf: '", f.path(), "': tensor '", t.name, "' is not part of a Llama model");
    for (auto& [name, t] : params) *t = f.tensor<B>(gguf_tensor_name(name)).set_requires_grad();
    return m;
}

namespace detail {
/// The pre-tokenizer of tokenizer.json for llama.cpp's `tokenizer.ggml.pre` names recur knows.
inline nlohmann::json gguf_pre_tokenizer(const gguf_file& f, const std::string& pre) {
    const nlohmann::json byte_level{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    if (pre == "default" || pre == "gpt2") return byte_level;
    if (pre == "smollm")  // llama.cpp splits every digit, then GPT-2's pattern
        return {{"type", "Sequence"},
                {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level}}};
    if (pre == "llama3" || pre == "llama-bpe")
        return {{"type", "Sequence"},
                {"pretokenizers",
                 {{{"type", "Split"},
                   {"pattern",
                    {{"Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                   {"behavior", "Isolated"},
                   {"invert", false}},
                  {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
    f.bad_key("tokenizer.ggml.pre", "is '", pre, "'; recur knows 'default', 'gpt2', 'smollm', 'llama3' and 'llama-bpe'");
}
}  // namespace detail

namespace detail {
/// Merges for a SentencePiece vocabulary that has none, as transformers' GGUF conversion makes them:
/// every split of every token (at code point boundaries, in id order) into two tokens of the
/// vocabulary, the splits of one token ordered by their halves' scores (higher first), then all of
/// them by the score of the token they make (higher first; both sorts stable). Applied as BPE ranks,
/// this merges the highest-scoring pair first, as SentencePiece and llama.cpp do. A token longer than
/// 1 KiB makes no merges (the work grows with the square of a token's length; SentencePiece's own
/// pieces are at most 16 characters by default).
inline nlohmann::json gguf_spm_merges(const nlohmann::json& tokens, const std::vector<double>& scores,
                                      const std::unordered_map<std::string_view, std::size_t>& id) {
    struct merge {
        std::size_t left, right;
        double score;
    };
    std::vector<merge> all, local;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
        const std::string_view tok = tokens[t].get_ref<const std::string&>();
        local.clear();
        for (std::size_t at = 0; tok.size() <= 1024 && at < tok.size();) {
            at += std::max<std::size_t>(1, utf8_sequence_length(tok, at));
            if (at >= tok.size()) break;
            const auto l = id.find(tok.substr(0, at)), r = id.find(tok.substr(at));
            if (l != id.end() && r != id.end()) local.push_back({l->second, r->second, scores[t]});
        }
        std::stable_sort(local.begin(), local.end(), [&](const merge& x, const merge& y) {
            return std::pair(scores[x.left], scores[x.right]) > std::pair(scores[y.left], scores[y.right]);
        });
        all.insert(all.end(), local.begin(), local.end());
    }
    std::stable_sort(all.begin(), all.end(), [](const merge& x, const merge& y) { return x.score > y.score; });
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : all) out.push_back(nlohmann::json::array({tokens[m.left], tokens[m.right]}));
    return out;
}
}  // namespace detail

/// The tokenizer.json equivalent of a GGUF file's vocabulary, as transformers converts it:
/// - "gpt2", byte-level BPE: tokens and merges, the pre-tokenizer `tokenizer.ggml.pre` names, a
///   byte-level decoder; BOS prepended when tokenizer.ggml.add_bos_token is true (default false).
/// - "llama", SentencePiece (Llama-2, TinyLlama, Mistral): tokens with byte fallback (<0xXX>) and
///   the unknown token (tokenizer.ggml.unknown_token_id) fused; tokenizer.ggml.merges, or merges made
///   from tokenizer.ggml.scores (gguf_spm_merges); "▁" prepended (unless tokenizer.ggml.add_space_prefix
///   is false) and spaces replaced by "▁"; the decoder that undoes it; BOS prepended unless
///   tokenizer.ggml.add_bos_token is false.
/// Either way control tokens (type 3) and the unknown token are special added tokens, user-defined
/// ones (type 4) added tokens matched in text first.
inline nlohmann::json gguf_tokenizer_json(const gguf_file& f) {
    const auto model = f.string("tokenizer.ggml.model");
    if (!model) f.bad_key("tokenizer.ggml.model", "is missing (the file has no vocabulary)");
    if (*model != "gpt2" && *model != "llama")
        f.bad_key("tokenizer.ggml.model", "is '", *model, "'; recur reads byte-level BPE ('gpt2') and SentencePiece ('llama') vocabularies");
    const bool spm = *model == "llama";
    const auto& md = f.metadata();
    auto strings = [&](const std::string& key) -> const nlohmann::json& {
        const auto it = md.find(key);
        if (it == md.end()) f.bad_key(key, "is missing");
        if (!it->is_array() || !std::all_of(it->begin(), it->end(), [](const auto& s) { return s.is_string(); }))
            f.bad_key(key, "is not an array of strings");
        return *it;
    };
    const auto& tokens = strings("tokenizer.ggml.tokens");
    auto per_token = [&](const std::string& key, auto is_valid) -> const nlohmann::json* {
        const auto it = md.find(key);
        if (it == md.end()) return nullptr;
        if (!it->is_array() || it->size() != tokens.size() || !std::all_of(it->begin(), it->end(), is_valid))
            f.bad_key(key, "is not an array of ", tokens.size(), " numbers");
        return &*it;
    };
    const auto* types = per_token("tokenizer.ggml.token_type", [](const auto& v) { return v.is_number_integer(); });
    auto token_id = [&](const std::string& key) -> std::optional<std::size_t> {
        const auto v = f.optional_integer(key);
        if (!v) return std::nullopt;
        if (*v < 0 || *v >= static_cast<std::int64_t>(tokens.size())) f.bad_key(key, "(", *v, ") is not a token id");
        return static_cast<std::size_t>(*v);
    };
    const auto unk = spm ? token_id("tokenizer.ggml.unknown_token_id") : std::nullopt;
    nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array();
    std::unordered_map<std::string_view, std::size_t> id;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const auto& tok = tokens[i].get_ref<const std::string&>();
        if (!id.emplace(tok, i).second) f.bad_key("tokenizer.ggml.tokens", "lists '", tok, "' twice");
        vocab[tok] = i;
        const int type = types ? (*types)[i].get<int>() : 1;
        if (type == 3 || type == 4 || i == unk)
            added.push_back({{"id", i}, {"content", tok}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                             {"normalized", type == 4}, {"special", type != 4}});
    }
    nlohmann::json merges;
    if (md.contains("tokenizer.ggml.merges") || !spm) {
        merges = strings("tokenizer.ggml.merges");
    } else {
        const auto* s = per_token("tokenizer.ggml.scores", [](const auto& v) { return v.is_number(); });
        if (!s) f.bad_key("tokenizer.ggml.scores", "is missing (a SentencePiece vocabulary without merges needs them)");
        merges = detail::gguf_spm_merges(tokens, s->template get<std::vector<double>>(), id);
    }
    const nlohmann::json bpe{{"type", "BPE"},
                             {"dropout", nullptr},
                             {"unk_token", unk ? tokens[*unk] : nlohmann::json()},
                             {"continuing_subword_prefix", nullptr},
                             {"end_of_word_suffix", nullptr},
                             {"fuse_unk", spm},
                             {"byte_fallback", spm},
                             {"ignore_merges", false},
                             {"vocab", vocab},
                             {"merges", merges}};
    nlohmann::json j{{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
                     {"normalizer", nullptr}, {"pre_tokenizer", nullptr}, {"post_processor", nullptr},
                     {"decoder", nullptr}, {"model", bpe}};
    if (spm) {
        const bool prefix = f.boolean("tokenizer.ggml.add_space_prefix", true);
        const std::string metaspace = "\xe2\x96\x81";  // U+2581
        const nlohmann::json replace{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", metaspace}};
        nlohmann::json normalizers = nlohmann::json::array();
        if (prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", metaspace}});
        normalizers.push_back(replace);
        j["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
        nlohmann::json decoders = nlohmann::json::array();
        decoders.push_back({{"type", "ByteFallback"}});
        decoders.push_back({{"type", "Fuse"}});
        decoders.push_back({{"type", "Replace"}, {"pattern", {{"String", metaspace}}}, {"content", " "}});
        if (prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
        j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
    } else {
        j["pre_tokenizer"] = detail::gguf_pre_tokenizer(f, f.string("tokenizer.ggml.pre").value_or("default"));
        j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    }
    if (const auto bos = token_id("tokenizer.ggml.bos_token_id"); bos && f.boolean("tokenizer.ggml.add_bos_token", spm)) {
        const auto& b = tokens[*bos];
        j["post_processor"] = {{"type", "TemplateProcessing"},
                               {"single", {{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                               {"pair",
                                {{{"SpecialToken", {{"id", b}, {"type_id", 0}}}},
                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                 {{"SpecialToken", {{"id", b}, {"type_id", 1}}}},
                                 {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
                               {"special_tokens", {{b.get<std::string>(), {{"id", b}, {"ids", {*bos}}, {"tokens", {b}}}}}}};
    }
    return j;
}

/// The tokenizer_config.json equivalent of a GGUF file's vocabulary: its BOS and EOS
/// (tokenizer.ggml.bos_token_id / eos_token_id) as "bos_token" and "eos_token", where given.
inline nlohmann::json gguf_tokenizer_config(const gguf_file& f) {
    const auto it = f.metadata().find("tokenizer.ggml.tokens");
    if (it == f.metadata().end() || !it->is_array()) f.bad_key("tokenizer.ggml.tokens", "is missing or not an array");
    const auto& tokens = *it;
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [key, field] : {std::pair{"tokenizer.ggml.bos_token_id", "bos_token"}, {"tokenizer.ggml.eos_token_id", "eos_token"}}) {
        const auto id = f.optional_integer(key);
        if (!id) continue;
        if (*id < 0 || *id >= static_cast<std::int64_t>(tokens.size())) f.bad_key(key, "(", *id, ") is not a token id");
        config[field] = tokens[static_cast<std::size_t>(*id)];
    }
    return config;
}

/// The embedded vocabulary of a GGUF file as an hf_tokenizer, with its BOS and EOS as the special
/// tokens (gguf_tokenizer_json, gguf_tokenizer_config).
inline hf_tokenizer load_gguf_tokenizer(const gguf_file& f) {
    hf_tokenizer tok(gguf_tokenizer_json(f), f.path());
    tok.set_special_tokens(gguf_tokenizer_config(f), f.path());
    return tok;
}
inline hf_tokenizer load_gguf_tokenizer(const std::filesystem::path& path) { return load_gguf_tokenizer(gguf_file(path)); }

}  // namespace recur
