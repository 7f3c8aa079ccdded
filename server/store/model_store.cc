#include "server/store/model_store.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "server/common/file_io.h"
#include "server/common/log.h"
#include "server/engine/serialize.h"
#include "server/store/quarantine.h"
#include "server/store/record.h"

namespace mlp::store {
namespace fs = std::filesystem;
namespace {

constexpr char kMetaMagic[] = "MLPM";
constexpr char kVersionMagic[] = "MLPV";
constexpr uint32_t kFormat = 1;
constexpr char kMetaFile[] = "model.meta";

// Entries of models/: ".new-..." and ".del-..." directories. Only the leading
// '.' marks them: model names may contain ".tmp." (e.g. "run.tmp.1").
bool IsTemporaryModelDir(const std::string& name) {
  return absl::StartsWith(name, ".");
}

// Entries of models/<name>/: the fixed file names never contain ".tmp.", so
// that marks common::WriteFileAtomically's temporaries there.
bool IsTemporaryModelFile(const std::string& name) {
  return absl::StartsWith(name, ".") || absl::StrContains(name, ".tmp.");
}

// "v000012.ver" -> 12.
std::optional<uint64_t> ParseVersionFile(const std::string& file) {
  if (file.size() < 6 || file[0] != 'v' || !absl::EndsWith(file, ".ver")) {
    return std::nullopt;
  }
  uint64_t version;
  if (!absl::SimpleAtoi(file.substr(1, file.size() - 5), &version) ||
      version == 0) {
    return std::nullopt;
  }
  return version;
}

std::string EncodeMeta(absl::Time created_at) {
  RecordWriter w(kMetaMagic, kFormat);
  w.Put<int64_t>(absl::ToUnixNanos(created_at));
  return std::move(w).Finish();
}

absl::StatusOr<absl::Time> DecodeMeta(absl::string_view bytes,
                                      absl::string_view what) {
  MLP_ASSIGN_OR_RETURN(RecordReader r,
                       RecordReader::Open(bytes, kMetaMagic, kFormat, what));
  int64_t nanos = 0;
  MLP_RETURN_IF_ERROR(r.Get(&nanos));
  MLP_RETURN_IF_ERROR(r.ExpectEnd());
  return absl::FromUnixNanos(nanos);
}

// The version file at `path`, which must hold `version`.
absl::StatusOr<VersionRecord> ReadVersionFile(const std::string& path,
                                              uint64_t version) {
  MLP_ASSIGN_OR_RETURN(std::string bytes, common::ReadFile(path));
  MLP_ASSIGN_OR_RETURN(VersionRecord decoded, DecodeVersion(bytes, path));
  if (decoded.version != version) {
    return absl::DataLossError(absl::StrCat(
        path, ": holds version ", decoded.version, ", expected ", version));
  }
  return decoded;
}

absl::StatusOr<absl::Time> ReadMetaFile(const std::string& path) {
  MLP_ASSIGN_OR_RETURN(std::string bytes, common::ReadFile(path));
  return DecodeMeta(bytes, path);
}

void RemoveTreeQuietly(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) {
    MLP_LOG(WARNING) << "cannot remove '" << path.string()
                     << "': " << error.message();
  }
}

}  // namespace

std::string EncodeVersion(const VersionRecord& version) {
  RecordWriter w(kVersionMagic, kFormat);
  w.Put<uint64_t>(version.version);
  w.Put<int64_t>(absl::ToUnixNanos(version.committed_at));
  w.Put<uint8_t>(version.summary.has_value() ? 1 : 0);
  const TrainingSummary summary = version.summary.value_or(TrainingSummary{});
  w.Put<uint32_t>(summary.epochs);
  w.Put<double>(summary.final_loss);
  w.Put<int32_t>(static_cast<int32_t>(summary.stop_reason));
  w.PutBytes(engine::SerializeNetwork(*version.network));
  return std::move(w).Finish();
}

absl::StatusOr<VersionRecord> DecodeVersion(absl::string_view bytes,
                                            absl::string_view what) {
  MLP_ASSIGN_OR_RETURN(RecordReader r,
                       RecordReader::Open(bytes, kVersionMagic, kFormat, what));
  VersionRecord out;
  int64_t nanos = 0;
  uint8_t has_summary = 0;
  TrainingSummary summary;
  int32_t stop_reason = 0;
  absl::string_view network_bytes;
  MLP_RETURN_IF_ERROR(r.Get(&out.version));
  MLP_RETURN_IF_ERROR(r.Get(&nanos));
  MLP_RETURN_IF_ERROR(r.Get(&has_summary));
  MLP_RETURN_IF_ERROR(r.Get(&summary.epochs));
  MLP_RETURN_IF_ERROR(r.Get(&summary.final_loss));
  MLP_RETURN_IF_ERROR(r.Get(&stop_reason));
  MLP_RETURN_IF_ERROR(r.GetBytes(&network_bytes));
  MLP_RETURN_IF_ERROR(r.ExpectEnd());
  if (stop_reason < 0 ||
      stop_reason > static_cast<int32_t>(engine::StopReason::kDiverged)) {
    return absl::DataLossError(
        absl::StrCat(what, ": unknown stop reason ", stop_reason));
  }
  summary.stop_reason = static_cast<engine::StopReason>(stop_reason);
  out.committed_at = absl::FromUnixNanos(nanos);
  if (has_summary != 0) out.summary = summary;
  absl::StatusOr<engine::Network> network = engine::ParseNetwork(network_bytes);
  if (!network.ok()) {
    return absl::DataLossError(
        absl::StrCat(what, ": ", network.status().message()));
  }
  out.network = std::make_shared<const engine::Network>(*std::move(network));
  return out;
}

absl::StatusOr<std::unique_ptr<ModelStore>> ModelStore::Open(
    const std::string& data_dir) {
  const std::string models_dir = (fs::path(data_dir) / "models").string();
  const std::string quarantine_dir =
      (fs::path(data_dir) / "quarantine").string();
  MLP_RETURN_IF_ERROR(common::EnsureDirectory(models_dir));
  MLP_RETURN_IF_ERROR(common::EnsureDirectory(quarantine_dir));
  // Leftovers of interrupted creations, deletions and writes: by construction
  // none of them was ever committed.
  MLP_ASSIGN_OR_RETURN(std::vector<std::string> names,
                       common::ListDirectory(models_dir));
  for (const std::string& name : names) {
    const fs::path path = fs::path(models_dir) / name;
    if (IsTemporaryModelDir(name)) {
      RemoveTreeQuietly(path);
      continue;
    }
    if (!common::IsDirectory(path.string())) continue;
    absl::StatusOr<std::vector<std::string>> files =
        common::ListDirectory(path.string());
    if (!files.ok()) continue;  // LoadAll reports unreadable models
    for (const std::string& file : *files) {
      if (IsTemporaryModelFile(file)) RemoveTreeQuietly(path / file);
    }
  }
  return std::unique_ptr<ModelStore>(
      new ModelStore(models_dir, quarantine_dir, /*read_only=*/false));
}

std::unique_ptr<ModelStore> ModelStore::OpenReadOnly(
    const std::string& data_dir) {
  return std::unique_ptr<ModelStore>(
      new ModelStore((fs::path(data_dir) / "models").string(),
                     (fs::path(data_dir) / "quarantine").string(),
                     /*read_only=*/true));
}

absl::Status ModelStore::CheckWritable() const {
  if (!read_only_) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "the model store is read-only (a replica's)");
}

absl::StatusOr<std::vector<ModelListing>> ModelStore::List() const {
  MLP_ASSIGN_OR_RETURN(std::vector<std::string> entries,
                       common::ListDirectory(models_dir_));
  std::vector<ModelListing> out;
  for (const std::string& name : entries) {
    if (IsTemporaryModelDir(name)) continue;
    const std::string dir = ModelDir(name);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    // A model deleted since the listing above is simply not there.
    absl::StatusOr<std::vector<std::string>> files = common::ListDirectory(dir);
    if (!files.ok()) {
      if (absl::IsNotFound(files.status())) continue;
      return files.status();
    }
    ModelListing listing;
    listing.name = name;
    listing.directory_id = static_cast<uint64_t>(st.st_ino);
    listing.directory_changed_ns =
        int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
    for (const std::string& file : *files) {
      if (std::optional<uint64_t> v = ParseVersionFile(file)) {
        listing.versions.push_back(*v);
      }
    }
    std::sort(listing.versions.begin(), listing.versions.end());
    out.push_back(std::move(listing));
  }
  std::sort(out.begin(), out.end(),
            [](const ModelListing& a, const ModelListing& b) {
              return a.name < b.name;
            });
  return out;
}

absl::StatusOr<absl::Time> ModelStore::ReadCreatedAt(
    const std::string& name) const {
  return ReadMetaFile((fs::path(ModelDir(name)) / kMetaFile).string());
}

absl::StatusOr<VersionRecord> ModelStore::ReadVersion(const std::string& name,
                                                      uint64_t version) const {
  return ReadVersionFile(VersionPath(name, version), version);
}

std::string ModelStore::ModelDir(const std::string& name) const {
  return (fs::path(models_dir_) / name).string();
}

std::string ModelStore::VersionPath(const std::string& name,
                                    uint64_t version) const {
  return (fs::path(ModelDir(name)) / absl::StrFormat("v%06d.ver", version))
      .string();
}

void ModelStore::Quarantine(const std::string& path, const absl::Status& why) {
  MoveToQuarantine(path, quarantine_dir_, why);
}

std::optional<ModelRecord> ModelStore::LoadModel(const std::string& name) {
  const std::string dir = ModelDir(name);
  ModelRecord record;
  record.name = name;
  const std::string meta_path = (fs::path(dir) / kMetaFile).string();
  absl::StatusOr<absl::Time> created_at = ReadMetaFile(meta_path);
  std::vector<std::pair<uint64_t, std::string>> files;
  absl::StatusOr<std::vector<std::string>> names = common::ListDirectory(dir);
  if (!names.ok()) {
    MLP_LOG(ERROR) << names.status().message() << "; model '" << name
                   << "' not loaded";
    return std::nullopt;
  }
  for (const std::string& file : *names) {
    if (std::optional<uint64_t> v = ParseVersionFile(file)) {
      files.emplace_back(*v, (fs::path(dir) / file).string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& [version, path] : files) {
    absl::StatusOr<VersionRecord> decoded = ReadVersionFile(path, version);
    if (!decoded.ok()) {
      Quarantine(path, decoded.status());
      continue;
    }
    record.versions.push_back(*std::move(decoded));
  }
  if (record.versions.empty()) {
    const absl::Status why = absl::DataLossError("no readable version");
    Quarantine(dir, why);
    return std::nullopt;
  }
  if (!created_at.ok()) {
    // The versions are intact: keep serving them, with the first one's time.
    Quarantine(meta_path, created_at.status());
    created_at = record.versions.front().committed_at;
    (void)common::WriteFileAtomically(meta_path, EncodeMeta(*created_at));
  }
  record.created_at = *created_at;
  return record;
}

std::vector<ModelRecord> ModelStore::LoadAll() {
  if (read_only_) return {};
  std::vector<std::string> names;
  absl::StatusOr<std::vector<std::string>> entries =
      common::ListDirectory(models_dir_);
  if (!entries.ok()) {
    MLP_LOG(ERROR) << entries.status().message();
    return {};
  }
  for (const std::string& name : *entries) {
    if (!IsTemporaryModelDir(name) && common::IsDirectory(ModelDir(name))) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<ModelRecord> models;
  for (const std::string& name : names) {
    if (std::optional<ModelRecord> model = LoadModel(name)) {
      models.push_back(*std::move(model));
    }
  }
  return models;
}

absl::Status ModelStore::WriteVersionFile(
    const std::string& dir, const VersionRecord& version,
    const std::function<absl::Status()>& before_rename) const {
  return common::WriteFileAtomically(
      (fs::path(dir) / absl::StrFormat("v%06d.ver", version.version)).string(),
      EncodeVersion(version), before_rename);
}

absl::Status ModelStore::CreateModel(const std::string& name,
                                     absl::Time created_at,
                                     const VersionRecord& first) {
  MLP_RETURN_IF_ERROR(CheckWritable());
  const std::string final_dir = ModelDir(name);
  std::error_code exists_error;
  if (fs::exists(final_dir, exists_error) || exists_error) {
    return absl::AlreadyExistsError(
        absl::StrCat("model directory '", final_dir, "' exists"));
  }
  const std::string tmp_dir =
      (fs::path(models_dir_) /
       absl::StrCat(".new-", name, "-", common::UniqueSuffix()))
          .string();
  MLP_RETURN_IF_ERROR(common::EnsureDirectory(tmp_dir));
  absl::Status status = common::WriteFileAtomically(
      (fs::path(tmp_dir) / kMetaFile).string(), EncodeMeta(created_at));
  if (status.ok()) status = WriteVersionFile(tmp_dir, first);
  if (status.ok() && std::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
    status = common::ErrnoStatus("rename", tmp_dir, errno);
  }
  if (!status.ok()) {
    RemoveTreeQuietly(tmp_dir);
    return status;
  }
  common::SyncDirectoryAfterCommit(models_dir_);
  return absl::OkStatus();
}

absl::Status ModelStore::WriteVersion(
    const std::string& name, const VersionRecord& version,
    const std::function<absl::Status()>& before_rename) {
  MLP_RETURN_IF_ERROR(CheckWritable());
  return WriteVersionFile(ModelDir(name), version, before_rename);
}

absl::Status ModelStore::DeleteVersion(const std::string& name,
                                       uint64_t version) {
  MLP_RETURN_IF_ERROR(CheckWritable());
  const std::string path = VersionPath(name, version);
  if (std::remove(path.c_str()) != 0 && errno != ENOENT) {
    return common::ErrnoStatus("remove", path, errno);
  }
  common::SyncDirectoryAfterCommit(ModelDir(name));
  return absl::OkStatus();
}

absl::Status ModelStore::DeleteModel(const std::string& name) {
  MLP_RETURN_IF_ERROR(CheckWritable());
  const std::string dir = ModelDir(name);
  const std::string trash =
      (fs::path(models_dir_) /
       absl::StrCat(".del-", name, "-", common::UniqueSuffix()))
          .string();
  if (std::rename(dir.c_str(), trash.c_str()) != 0) {
    return common::ErrnoStatus("rename", dir, errno);
  }
  common::SyncDirectoryAfterCommit(models_dir_);
  RemoveTreeQuietly(trash);
  return absl::OkStatus();
}

}  // namespace mlp::store
