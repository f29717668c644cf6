// Copyright (c) Mirage developers.
#include "io/tally_file.h"

#include <stdexcept>

#include "cli/cli.h"
#include "io/format.h"
#include "io/hdf5_file.h"
#include "mirage/build_info.h"
#include "mirage/sweep.h"
#include "io/output.h"
#include "run/runner.h"
#include "run/simulation.h"

namespace mirage {
namespace {

uint64_t fnv1a(uint64_t hash, const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

uint64_t tally_checksum(const std::vector<uint8_t>& done, const std::vector<int64_t>& segment) {
  uint64_t hash = 14695981039346656037ull;
  hash = fnv1a(hash, done.data(), done.size());
  return fnv1a(hash, segment.data(), segment.size() * sizeof(int64_t));
}

namespace {

// The checksum of what says which work a file holds (kind, shard, dealing, configuration):
// attributes that the tally checksum does not cover, and that merge and resume trust.
uint64_t identity_checksum(const std::string& kind, int64_t shard_index, int64_t shard_count,
                           const std::string& dealing, const std::string& config_toml,
                           const std::string& identity) {
  std::string text;
  for (const std::string& part : {kind, std::to_string(shard_index), std::to_string(shard_count),
                                  dealing, config_toml, identity}) {
    text += part;
    text += '\0';
  }
  return fnv1a(14695981039346656037ull, text.data(), text.size());
}

}  // namespace

TallyFile make_tally_file(const std::string& kind, const Config& config,
                          std::vector<int64_t> segment, std::vector<uint8_t> done) {
  TallyFile file;
  file.kind = kind;
  file.config = config;
  file.config_toml = to_toml(config);
  file.identity = sampling_identity(config);
  file.shard_index = config.shard_index;
  file.shard_count = config.shard_count;
  file.segment = std::move(segment);
  file.done = std::move(done);
  return file;
}

void write_tally_file(const TallyFile& file, const std::string& path) {
  h5::write_atomically(path, [&](h5::File& f) {
    f.attr("/", "filetype", std::string(TALLY_FILETYPE));
    f.attr("/", "format_version", std::vector<int32_t>{FORMAT_VERSION_MAJOR, FORMAT_VERSION_MINOR});
    f.attr("/", "kind", file.kind);
    f.attr("/", "mirage_version", std::string(MIRAGE_VERSION_STRING));
    f.attr("/", "git_sha", std::string(MIRAGE_GIT_SHA));
    f.attr("/", "created_utc", utc_now());
    f.attr("/", "seed", file.config.seed);
    f.attr("/", "shard_index", int64_t{file.shard_index});
    f.attr("/", "shard_count", int64_t{file.shard_count});
    f.attr("/", "unit_dealing", std::string(UNIT_DEALING));
    f.attr("/", "num_units", int64_t(file.done.size()));
    int64_t units_done = 0;
    for (uint8_t d : file.done) units_done += d;
    f.attr("/", "units_done", units_done);
    f.attr("/", "checksum", tally_checksum(file.done, file.segment));
    f.attr("/", "identity_checksum",
           identity_checksum(file.kind, file.shard_index, file.shard_count, UNIT_DEALING,
                             file.config_toml, file.identity));
    f.create_group("/config");
    f.attr("/config", "config_toml", file.config_toml);
    f.attr("/config", "sampling_identity", file.identity);
    f.write("/units/done", file.done, {hsize_t(file.done.size())});
    // Flat: the num_tallies(spec) arrays [S][K][T][R], tally-major.
    f.write("/tallies/segment", file.segment, {hsize_t(file.segment.size())});
    f.attr("/tallies/segment", "layout",
           std::string("int64 [NT][S][K][T][R] per segment: exact_match, token_errors, "
                       "token_errors_sq, and for multiple choice multiple_choice_grade, "
                       "brier_score, brier_score_sq (NT = 3 or 6)" +
                       std::string(file.config.attempts > 1
                                       ? "; then, with attempts A > 1, the A + 1 bins c = 0..A "
                                         "of the histogram of correct attempts"
                                       : "") +
                       std::string(file.config.until_success
                                       ? "; then, sampling until success, until_solved, "
                                         "until_attempts, until_attempts_sq, "
                                         "until_solved_attempts"
                                       : "")));
  }, /*checksummed=*/true);
}

TallyFile read_tally_file(const std::string& option, const std::string& path) {
  auto refuse = [&](const std::string& why) -> std::invalid_argument {
    return std::invalid_argument(option + ": '" + path + "' " + why);
  };
  try {
    const h5::File f = h5::File::open_read(path);
    if (!f.has_attr("/", "filetype") || f.attr_string("/", "filetype") != TALLY_FILETYPE) {
      throw refuse("is not a Mirage checkpoint or shard file (filetype " +
                   (f.has_attr("/", "filetype") ? f.attr_string("/", "filetype") : "missing") +
                   ")");
    }
    const std::vector<int32_t> version = f.attr_int32s("/", "format_version");
    if (version.empty() || version[0] != FORMAT_VERSION_MAJOR) {
      throw refuse("has a format version this mirage cannot read");
    }
    TallyFile file;
    file.kind = f.attr_string("/", "kind");
    file.shard_index = int32_t(f.attr_int64("/", "shard_index"));
    file.shard_count = int32_t(f.attr_int64("/", "shard_count"));
    file.config_toml = f.attr_string("/config", "config_toml");
    file.identity = f.attr_string("/config", "sampling_identity");
    file.done = f.read_uint8("/units/done");
    file.segment = f.read_int64("/tallies/segment");
    if (int64_t(file.done.size()) != f.attr_int64("/", "num_units")) {
      throw refuse("is corrupted: the unit record has the wrong length");
    }
    if (tally_checksum(file.done, file.segment) != f.attr_uint64("/", "checksum")) {
      throw refuse("is corrupted: its checksum does not match its contents");
    }
    // Files written before 1.2's identity checksum carry only the tally checksum.
    if (f.has_attr("/", "identity_checksum")) {
      const std::string dealing =
          f.has_attr("/", "unit_dealing") ? f.attr_string("/", "unit_dealing") : "";
      if (identity_checksum(file.kind, f.attr_int64("/", "shard_index"),
                            f.attr_int64("/", "shard_count"), dealing, file.config_toml,
                            file.identity) != f.attr_uint64("/", "identity_checksum")) {
        throw refuse("is corrupted: its kind, shard or configuration does not match its "
                     "identity checksum");
      }
    }
    file.config = config_from_toml(file.config_toml, option + " '" + path + "'");
    const Config& c = file.config;
    const Sweep sweep(c);
    // The array the sweep itself allocates.
    if (int64_t(file.segment.size()) != segment_tally_size(sweep.spec()) ||
        sampling_identity(c) != file.identity) {
      throw refuse("is corrupted: its tallies do not match its configuration");
    }
    if (file.shard_count < 1 || file.shard_index < 0 || file.shard_index >= file.shard_count) {
      throw refuse("is corrupted: its shard index is out of range");
    }
    if (file.shard_count > 1) {
      // Which units a shard holds depends on the dealing; files without the attribute were
      // dealt by id mod N, so their units are not this mirage's shard K/N.
      const std::string dealing =
          f.has_attr("/", "unit_dealing") ? f.attr_string("/", "unit_dealing") : "id mod N";
      const std::string shard =
          "shard " + std::to_string(file.shard_index) + "/" + std::to_string(file.shard_count);
      if (dealing != UNIT_DEALING) {
        throw refuse("is " + shard + " of a mirage that dealt work units to shards by " +
                     dealing + "; this one deals them by token draws, so its shards hold other "
                     "units: delete it and sample " + shard + " again");
      }
      // A checkpoint holds some of its shard's units, a finished shard all of them.
      const UnitRange range = shard_units(sweep.grid(), file.shard_index, file.shard_count);
      for (size_t u = 0; u < file.done.size(); ++u) {
        const bool inside = int64_t(u) >= range.first && int64_t(u) < range.last;
        if (file.done[u] && !inside) {
          throw refuse("is corrupted: it holds work unit " + std::to_string(u) + ", which is not "
                       "in " + shard + " (units " + std::to_string(range.first) + ".." +
                       std::to_string(range.last - 1) + ")");
        }
        if (!file.done[u] && inside && file.kind == "shard") {
          throw refuse("is an incomplete " + shard + ": work unit " + std::to_string(u) +
                       " is missing");
        }
      }
    }
    return file;
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw refuse(std::string("cannot be read (truncated or corrupted?): ") + e.what());
  }
}

}  // namespace mirage
