// llm.c token files: a 256 x int32 header (magic 20240520, version, count), then uint16 or uint32 ids.
// Not here: producing the ids (tokenizer.hpp, text_corpus.hpp) or batching them for training (data/).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <recur/core/error.hpp>
#include <recur/io/atomic_file.hpp>

namespace recur {

static_assert(std::endian::native == std::endian::little, "llm.c token files are little-endian");

/// The llm.c header: header[0] = token_file_magic, header[1] = version, header[2] = token count.
inline constexpr std::int32_t token_file_magic = 20240520;
inline constexpr std::int64_t token_file_header_bytes = 256 * 4;

/// What a token file's header says. Version 1 stores ids as uint16 (llm.c), version 2 as uint32.
struct token_file_info {
    std::int32_t version = 1;
    std::int64_t count = 0;
    /// Bytes per id: 2 for version 1, 4 for version 2.
    std::int64_t id_bytes() const { return version == 1 ? 2 : 4; }
};

/// Writes `ids` as an llm.c token file, atomically (write_file_atomically). `version` 0 picks 1 when
/// every id fits uint16 and 2 otherwise. Negative ids, ids over 65535 in version 1, an unknown
/// version or more than INT32_MAX ids throw recur::error. Returns the header written.
inline token_file_info write_token_file(const std::string& path, std::span<const std::int32_t> ids, int version = 0) {
    check(version >= 0 && version <= 2, "recur::write_token_file: '", path, "': version ", version,
          " is not 0 (automatic), 1 (uint16 ids) or 2 (uint32 ids)");
    check(ids.size() <= static_cast<std::size_t>(INT32_MAX), "recur::write_token_file: '", path, "': ", ids.size(),
          " ids do not fit the int32 count in the header");
    std::int32_t max_id = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        check(ids[i] >= 0, "recur::write_token_file: '", path, "': id ", ids[i], " at position ", i, " is negative");
        max_id = std::max(max_id, ids[i]);
    }
    if (version == 0) version = max_id < 65536 ? 1 : 2;
    check(version == 2 || max_id < 65536, "recur::write_token_file: '", path, "': id ", max_id,
          " does not fit version 1's uint16 ids; use version 2");
    const token_file_info info{version, static_cast<std::int64_t>(ids.size())};
    write_file_atomically(path, [&](std::ostream& os) {
        std::array<std::int32_t, 256> header{};
        header[0] = token_file_magic;
        header[1] = info.version;
        header[2] = static_cast<std::int32_t>(info.count);
        os.write(reinterpret_cast<const char*>(header.data()), token_file_header_bytes);
        constexpr std::size_t chunk = 1 << 16;
        std::vector<char> buf(chunk * 4);
        for (std::size_t start = 0; start < ids.size(); start += chunk) {
            const std::size_t n = std::min(chunk, ids.size() - start);
            for (std::size_t i = 0; i < n; ++i) {
                if (info.version == 1) {
                    const auto v = static_cast<std::uint16_t>(ids[start + i]);
                    std::memcpy(buf.data() + 2 * i, &v, 2);
                } else {
                    const auto v = static_cast<std::uint32_t>(ids[start + i]);
                    std::memcpy(buf.data() + 4 * i, &v, 4);
                }
            }
            os.write(buf.data(), static_cast<std::streamsize>(n * static_cast<std::size_t>(info.id_bytes())));
        }
    });
    return info;
}

/// Reads and checks the header of an llm.c token file against the file's size. A missing file, a
/// short header, a wrong magic or version, or a count that disagrees with the size (truncated or
/// trailing bytes) throws recur::io_error naming the file.
inline token_file_info read_token_file_info(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) io_fail("recur::read_token_file: cannot open '", path, "'");
    const auto size = static_cast<std::int64_t>(f.tellg());
    f.seekg(0);
    std::array<std::int32_t, 256> header{};
    if (size < token_file_header_bytes || !f.read(reinterpret_cast<char*>(header.data()), token_file_header_bytes))
        io_fail("recur::read_token_file: '", path, "': file of ", size, " bytes is shorter than the ",
                token_file_header_bytes, "-byte header");
    if (header[0] != token_file_magic)
        io_fail("recur::read_token_file: '", path, "': magic ", header[0], ", expected ", token_file_magic,
                " (not an llm.c token file)");
    if (header[1] != 1 && header[1] != 2)
        io_fail("recur::read_token_file: '", path, "': version ", header[1],
                ", expected 1 (uint16 ids) or 2 (uint32 ids)");
    if (header[2] < 0) io_fail("recur::read_token_file: '", path, "': negative token count ", header[2]);
    const token_file_info info{header[1], header[2]};
    const std::int64_t expected = token_file_header_bytes + info.count * info.id_bytes();
    if (size != expected)
        io_fail("recur::read_token_file: '", path, "': ", size, " bytes, but its header (version ", info.version, ", ",
                info.count, " tokens) needs ", expected, size < expected ? " (truncated)" : " (trailing bytes)");
    return info;
}

/// Reads the ids of an llm.c token file, checking the header as read_token_file_info does. With
/// `vocab_size` >= 0, an id >= vocab_size throws recur::io_error naming the file, its position and the
/// id; so does a version-2 id above INT32_MAX.
inline std::vector<std::int32_t> read_token_file(const std::string& path, std::int64_t vocab_size = -1) {
    const token_file_info info = read_token_file_info(path);
    std::ifstream f(path, std::ios::binary);
    f.seekg(token_file_header_bytes);
    std::vector<char> raw(static_cast<std::size_t>(info.count * info.id_bytes()));
    if (!f.read(raw.data(), static_cast<std::streamsize>(raw.size())))
        io_fail("recur::read_token_file: '", path, "': read of ", info.count, " ids failed");
    const std::int64_t limit = vocab_size >= 0 ? vocab_size : std::int64_t{INT32_MAX} + 1;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(info.count));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        std::int64_t id;
        if (info.version == 1) {
            std::uint16_t v;
            std::memcpy(&v, raw.data() + 2 * i, 2);
            id = v;
        } else {
            std::uint32_t v;
            std::memcpy(&v, raw.data() + 4 * i, 4);
            id = v;
        }
        if (id >= limit && vocab_size >= 0)
            io_fail("recur::read_token_file: '", path, "': id ", id, " at position ", i,
                    " is not below the vocab size ", vocab_size);
        if (id >= limit)
            io_fail("recur::read_token_file: '", path, "': id ", id, " at position ", i, " does not fit int32");
        ids[i] = static_cast<std::int32_t>(id);
    }
    return ids;
}

}  // namespace recur
