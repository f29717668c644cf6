// Copyright (c) Mirage developers.
//! \file tally_file.h
//! Partial results: the segment tallies of the work units completed so far, with a record of
//! which units those are and the configuration that defines them. One format serves
//! checkpoints (`--checkpoint`, `--resume`) and shards (`--shard k/N`, `mirage merge`).
//!
//!   /  attrs filetype="mirage-tallies", format_version=[1,1], kind ("checkpoint"|"shard"),
//!            mirage_version, git_sha, created_utc, seed, shard_index, shard_count,
//!            unit_dealing ("draws"; absent = id mod N, refused when sharded),
//!            num_units, units_done, checksum (FNV-1a 64 of /units/done and /tallies/segment)
//!  /config attrs config_toml, sampling_identity
//!  /units/done        uint8[num_units]   1 = the unit's tallies are in /tallies/segment
//!  /tallies/segment   int64, flat (1-D): [NT][S][K][T][R] in row-major order, per segment (not
//!                     yet summed over nested sizes); NT = num_tallies(spec): 3, or 6 for
//!                     multiple choice (docs/FORMAT.md)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"

namespace mirage {

constexpr const char* TALLY_FILETYPE = "mirage-tallies";

struct TallyFile {
  std::string kind;  //!< "checkpoint" or "shard"
  Config config;     //!< as resolved by the run that wrote it
  std::string config_toml;
  std::string identity;  //!< sampling_identity(config)
  int32_t shard_index = 0;
  int32_t shard_count = 1;
  std::vector<uint8_t> done;     //!< per unit id
  std::vector<int64_t> segment;  //!< num_tallies * S*K*T*R
};

//! A tally file of `kind` for the run of `config` (its shard, configuration and identity)
//! holding `segment` and `done`.
TallyFile make_tally_file(const std::string& kind, const Config& config,
                          std::vector<int64_t> segment, std::vector<uint8_t> done);

//! Writes `file` to `path` atomically (temporary name, then rename).
void write_tally_file(const TallyFile& file, const std::string& path);

//! Reads a tally file, refusing (std::invalid_argument naming `option` and the path) a
//! missing, truncated or corrupted file (checksum or shape mismatch) or one of another type.
TallyFile read_tally_file(const std::string& option, const std::string& path);

//! FNV-1a 64 over the bytes of `done` then `segment`.
uint64_t tally_checksum(const std::vector<uint8_t>& done, const std::vector<int64_t>& segment);

}  // namespace mirage
