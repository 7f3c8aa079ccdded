#include "client/names.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/types/span.h"
#include "google/protobuf/descriptor.h"

namespace mlp::cli {
namespace {

using google::protobuf::EnumDescriptor;

// Short spellings. The first alias of a value is also how it is printed.
struct Alias {
  const char* name;
  int value;
};

constexpr Alias kLossAliases[] = {
    {"ce", mlp::v1::CROSS_ENTROPY},
    {"bce", mlp::v1::BINARY_CROSS_ENTROPY},
};
constexpr Alias kInitAliases[] = {
    {"uniform01", mlp::v1::UNIFORM_0_1},
    {"xavier", mlp::v1::XAVIER_UNIFORM},
    {"he", mlp::v1::HE_NORMAL},
};

std::string GenericName(absl::string_view proto_name) {
  return absl::AsciiStrToLower(absl::StrReplaceAll(proto_name, {{"_", "-"}}));
}

bool IsUnspecified(absl::string_view proto_name) {
  return absl::EndsWith(proto_name, "_UNSPECIFIED");
}

std::string Name(const EnumDescriptor& descriptor, int value,
                 absl::Span<const Alias> display_aliases) {
  for (const Alias& alias : display_aliases) {
    if (alias.value == value) return alias.name;
  }
  const auto* entry = descriptor.FindValueByNumber(value);
  if (entry == nullptr) return std::to_string(value);
  return GenericName(entry->name());
}

std::optional<int> Parse(const EnumDescriptor& descriptor,
                         absl::string_view text,
                         absl::Span<const Alias> aliases) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (const Alias& alias : aliases) {
    if (lower == alias.name) return alias.value;
  }
  const std::string proto_name =
      absl::AsciiStrToUpper(absl::StrReplaceAll(lower, {{"-", "_"}}));
  const auto* entry = descriptor.FindValueByName(proto_name);
  if (entry == nullptr || IsUnspecified(entry->name())) return std::nullopt;
  return entry->number();
}

std::string Choices(const EnumDescriptor& descriptor,
                    absl::Span<const Alias> aliases) {
  std::vector<std::string> names;
  for (int i = 0; i < descriptor.value_count(); ++i) {
    const auto* entry = descriptor.value(i);
    if (IsUnspecified(entry->name())) continue;
    names.push_back(Name(descriptor, entry->number(), aliases));
  }
  return absl::StrJoin(names, "|");
}

template <typename Enum>
const EnumDescriptor& DescriptorOf() {
  return *google::protobuf::GetEnumDescriptor<Enum>();
}

template <typename Enum>
std::optional<Enum> ParseAs(absl::string_view text,
                            absl::Span<const Alias> aliases) {
  std::optional<int> value = Parse(DescriptorOf<Enum>(), text, aliases);
  if (!value) return std::nullopt;
  return static_cast<Enum>(*value);
}

}  // namespace

std::string ActivationName(mlp::v1::Activation value) {
  return Name(DescriptorOf<mlp::v1::Activation>(), value, {});
}
std::string LossName(mlp::v1::Loss value) {
  return Name(DescriptorOf<mlp::v1::Loss>(), value, {});
}
std::string LossShortName(mlp::v1::Loss value) {
  return Name(DescriptorOf<mlp::v1::Loss>(), value, kLossAliases);
}
std::string InitName(mlp::v1::Init value) {
  return Name(DescriptorOf<mlp::v1::Init>(), value, kInitAliases);
}
std::string OptimizerName(mlp::v1::Optimizer value) {
  return Name(DescriptorOf<mlp::v1::Optimizer>(), value, {});
}
std::string StopReasonName(mlp::v1::StopReason value) {
  return Name(DescriptorOf<mlp::v1::StopReason>(), value, {});
}
std::string StateName(mlp::v1::State value) {
  return Name(DescriptorOf<mlp::v1::State>(), value, {});
}

std::optional<mlp::v1::Activation> ParseActivation(absl::string_view text) {
  return ParseAs<mlp::v1::Activation>(text, {});
}
std::optional<mlp::v1::Loss> ParseLoss(absl::string_view text) {
  return ParseAs<mlp::v1::Loss>(text, kLossAliases);
}
std::optional<mlp::v1::Init> ParseInit(absl::string_view text) {
  return ParseAs<mlp::v1::Init>(text, kInitAliases);
}
std::optional<mlp::v1::Optimizer> ParseOptimizer(absl::string_view text) {
  return ParseAs<mlp::v1::Optimizer>(text, {});
}

std::string ActivationChoices() {
  return Choices(DescriptorOf<mlp::v1::Activation>(), {});
}
std::string LossChoices() { return Choices(DescriptorOf<mlp::v1::Loss>(), {}); }
std::string InitChoices() {
  return Choices(DescriptorOf<mlp::v1::Init>(), kInitAliases);
}
std::string OptimizerChoices() {
  return Choices(DescriptorOf<mlp::v1::Optimizer>(), {});
}

}  // namespace mlp::cli
