#include "client/parse.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/names.h"

namespace mlp::cli {

std::optional<float> ParseFloat(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  // from_chars takes no leading '+', which spreadsheets sometimes write.
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  float value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

absl::StatusOr<std::vector<float>> ParseNumberList(absl::string_view text) {
  std::vector<float> values;
  int position = 0;
  for (absl::string_view field : absl::StrSplit(text, ',')) {
    ++position;
    std::optional<float> value = ParseFloat(field);
    if (!value) {
      return absl::InvalidArgumentError(
          absl::StrCat("value ", position, " of '", text,
                       "': expected a finite number, got '",
                       absl::StripAsciiWhitespace(field), "'"));
    }
    values.push_back(*value);
  }
  return values;
}

absl::StatusOr<mlp::v1::LayerSpec> ParseLayer(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  uint32_t units = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &units) || units == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer '", text, "': expected UNITS:ACTIVATION, e.g. 4:relu"));
  }
  std::optional<mlp::v1::Activation> activation = ParseActivation(parts[1]);
  if (!activation) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer '", text, "': unknown activation '", parts[1],
                     "' (one of ", ActivationChoices(), ")"));
  }
  mlp::v1::LayerSpec layer;
  layer.set_units(units);
  layer.set_activation(*activation);
  return layer;
}

absl::Status CheckServerAddress(absl::string_view address) {
  constexpr absl::string_view kSchemes[] = {
      "dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:"};
  for (absl::string_view scheme : kSchemes) {
    if (absl::StartsWith(address, scheme)) return absl::OkStatus();
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected HOST:PORT, e.g. 127.0.0.1:50051, got '", address, "'"));
  }
  const absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  if (absl::StrContains(host, ':') &&
      !(host.front() == '[' && host.back() == ']')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an IPv6 address goes in brackets, e.g. [::1]:50051, got '", address,
        "'"));
  }
  uint32_t number = 0;
  if (port.empty() ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the port must be a number in 1-65535, got '", port,
                     "' in '", address, "'"));
  }
  return absl::OkStatus();
}

}  // namespace mlp::cli
