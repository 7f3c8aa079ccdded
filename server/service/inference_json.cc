#include "server/service/inference_json.h"

#include <charconv>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/escape.h"

namespace mlp::service::oip {
namespace {

using nlohmann::json;

// Deeper "data" nesting than any shape the models take is refused.
constexpr int kMaxDataDepth = 8;

// The request's values of "data" (flat or nested), in row-major order.
template <typename T>
absl::Status Flatten(const json& data, int depth, std::vector<T>* out) {
  if (data.is_number() && !data.is_boolean()) {
    out->push_back(static_cast<T>(data.get<double>()));
    return absl::OkStatus();
  }
  if (!data.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0].data value ", out->size(),
                     " is not a number (it is ", data.type_name(), ")"));
  }
  if (depth >= kMaxDataDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].data is nested deeper than ", kMaxDataDepth, " arrays"));
  }
  for (const json& item : data) {
    MLP_RETURN_IF_ERROR(Flatten(item, depth + 1, out));
  }
  return absl::OkStatus();
}

// The JSON member `key` of `object`, if present, checked with `is`.
template <typename Is>
absl::StatusOr<const json*> Member(const json& object, const char* key,
                                   absl::string_view field, Is is,
                                   const char* expected) {
  auto it = object.find(key);
  if (it == object.end()) return nullptr;
  if (!is(*it)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, key, " must be ", expected, " (it is ", it->type_name(), ")"));
  }
  return &*it;
}

bool IsString(const json& j) { return j.is_string(); }
bool IsObject(const json& j) { return j.is_object(); }
bool IsArray(const json& j) { return j.is_array(); }
bool IsBool(const json& j) { return j.is_boolean(); }
bool IsCount(const json& j) {
  return j.is_number_integer() && j.get<int64_t>() >= 0;
}

// parameters.<key> of `object` as a boolean (false if absent).
absl::StatusOr<bool> BoolParameter(const json& object, const char* key,
                                   absl::string_view field) {
  MLP_ASSIGN_OR_RETURN(
      const json* parameters,
      Member(object, "parameters", field, IsObject, "an object"));
  if (parameters == nullptr) return false;
  MLP_ASSIGN_OR_RETURN(
      const json* value,
      Member(*parameters, key, absl::StrCat(field, "parameters."), IsBool,
             "true or false"));
  return value != nullptr && value->get<bool>();
}

void AppendFloat(float value, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  // The exact value as a double, shortest round-trip: any JSON reader gets
  // the very float the network computed.
  char text[32];
  auto [end, ec] =
      std::to_chars(text, text + sizeof(text), static_cast<double>(value));
  out->append(text, end);
}

// The body as the binary tensor extension splits it: the JSON, then raw
// bytes (none without the Inference-Header-Content-Length header).
struct Body {
  absl::string_view json;
  absl::string_view binary;
};

absl::StatusOr<Body> SplitBody(absl::string_view whole,
                               std::optional<absl::string_view> header) {
  Body body{whole, {}};
  if (!header.has_value()) return body;
  int64_t length = -1;
  if (!absl::SimpleAtoi(*header, &length) || length < 1 ||
      length > static_cast<int64_t>(whole.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        kHeaderLength, " is ", common::Quote(*header, 32),
        "; expected the length of the JSON that starts the body (1 to ",
        whole.size(), ")"));
  }
  body.binary = body.json.substr(length);
  body.json = body.json.substr(0, length);
  return body;
}

absl::StatusOr<json> ParseObject(absl::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& error) {
    // nlohmann reports the position only through its exception.
    return absl::InvalidArgumentError(
        absl::StrCat("the request body is not valid JSON: ",
                     common::EscapeBounded(error.what(), 200)));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object (it is ",
                     doc.type_name(), ")"));
  }
  return doc;
}

// inputs[0]'s name, datatype and shape into `input`.
absl::Status ReadInputHeader(const json& in, JsonInferRequest* input) {
  MLP_ASSIGN_OR_RETURN(const json* name,
                       Member(in, "name", "inputs[0].", IsString, "a string"));
  MLP_ASSIGN_OR_RETURN(
      const json* datatype,
      Member(in, "datatype", "inputs[0].", IsString, "a string"));
  MLP_ASSIGN_OR_RETURN(const json* shape,
                       Member(in, "shape", "inputs[0].", IsArray, "an array"));
  if (name == nullptr || datatype == nullptr || shape == nullptr) {
    return absl::InvalidArgumentError(
        "inputs[0] needs \"name\", \"datatype\" and \"shape\"");
  }
  for (const json& d : *shape) {
    if (!d.is_number_integer()) {
      return absl::InvalidArgumentError(
          "inputs[0].shape must be an array of integers");
    }
    input->shape.push_back(d.get<int64_t>());
  }
  input->input.name = name->get_ref<const std::string&>();
  input->input.datatype = datatype->get_ref<const std::string&>();
  input->input.shape = input->shape;
  input->input.values_field = "data";
  input->input.raw_field = "the binary data of inputs[0]";
  return absl::OkStatus();
}

// inputs[0]'s values: "data", or the body's binary part.
absl::Status ReadInputValues(const json& in, absl::string_view binary,
                             JsonInferRequest* input) {
  auto data = in.find("data");
  if (data != in.end()) {
    if (input->input.datatype == kFp64) {
      MLP_RETURN_IF_ERROR(Flatten(*data, 0, &input->fp64));
      input->input.fp64 = input->fp64.data();
      input->input.count = static_cast<int64_t>(input->fp64.size());
    } else {
      MLP_RETURN_IF_ERROR(Flatten(*data, 0, &input->fp32));
      input->input.fp32 = input->fp32.data();
      input->input.count = static_cast<int64_t>(input->fp32.size());
    }
    return absl::OkStatus();
  }
  MLP_ASSIGN_OR_RETURN(
      const json* parameters,
      Member(in, "parameters", "inputs[0].", IsObject, "an object"));
  const json* size = nullptr;
  if (parameters != nullptr) {
    MLP_ASSIGN_OR_RETURN(
        size, Member(*parameters, "binary_data_size", "inputs[0].parameters.",
                     IsCount, "a count of bytes"));
  }
  if (size == nullptr) {
    return absl::InvalidArgumentError(
        "inputs[0] has neither \"data\" nor "
        "\"parameters\": {\"binary_data_size\": N}");
  }
  if (static_cast<int64_t>(binary.size()) != size->get<int64_t>()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0].parameters.binary_data_size is ",
                     size->get<int64_t>(), ", but the body has ", binary.size(),
                     " bytes after its ", kHeaderLength, " bytes of JSON"));
  }
  input->input.raw = binary;
  return absl::OkStatus();
}

absl::Status ReadInput(const json& doc, absl::string_view binary,
                       JsonInferRequest* input) {
  MLP_ASSIGN_OR_RETURN(const json* inputs,
                       Member(doc, "inputs", "", IsArray, "an array"));
  if (inputs == nullptr || inputs->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs has ", inputs == nullptr ? 0 : inputs->size(),
                     " tensors; the model takes one, '", kInputName, "'"));
  }
  const json& in = (*inputs)[0];
  if (!in.is_object()) {
    return absl::InvalidArgumentError("inputs[0] must be an object");
  }
  MLP_RETURN_IF_ERROR(ReadInputHeader(in, input));
  return ReadInputValues(in, binary, input);
}

// The names in "outputs"; *binary becomes true if one asks for binary data.
absl::Status ReadOutputs(const json& doc, std::vector<absl::string_view>* names,
                         bool* binary) {
  MLP_ASSIGN_OR_RETURN(const json* outputs,
                       Member(doc, "outputs", "", IsArray, "an array"));
  if (outputs == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < outputs->size(); ++i) {
    const json& output = (*outputs)[i];
    const std::string field = absl::StrCat("outputs[", i, "].");
    if (!output.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("outputs[", i, "] must be an object"));
    }
    MLP_ASSIGN_OR_RETURN(const json* name,
                         Member(output, "name", field, IsString, "a string"));
    if (name == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(field, "name is missing"));
    }
    names->push_back(name->get_ref<const std::string&>());
    MLP_ASSIGN_OR_RETURN(bool wants_binary,
                         BoolParameter(output, "binary_data", field));
    *binary = *binary || wants_binary;
  }
  return absl::OkStatus();
}

}  // namespace

// (Arrays of one element are spelled json::array({...}): a bare {x} is a
// copy of x for some compilers, an array for others.)
void WriteInferAnswer(const std::string& model, const InferencePlan& plan,
                      const json* id, const std::vector<float>& values,
                      bool binary, http::Response* response) {
  json head = {{"model_name", model},
               {"model_version", absl::StrCat(plan.version->version)}};
  if (id != nullptr) head["id"] = *id;
  json output = {{"name", std::string(kOutputName)},
                 {"datatype", std::string(kFp32)},
                 {"shape", plan.input.output_shape}};
  const size_t bytes = values.size() * sizeof(float);
  if (binary) {
    output["parameters"] = json::object({{"binary_data_size", bytes}});
    head["outputs"] = json::array({output});
    std::string text = Dump(head);
    response->headers.emplace_back(std::string(kHeaderLength),
                                   absl::StrCat(text.size()));
    response->content_type = "application/octet-stream";
    response->body = std::move(text);
    // Little-endian FP32, as on every machine this builds for.
    response->body.append(reinterpret_cast<const char*>(values.data()), bytes);
    return;
  }
  // The data array is written here, not by nlohmann: this is the hot path.
  output["data"] = json::array();
  head["outputs"] = json::array({output});
  std::string text = Dump(head);
  // The values go inside the output's "data":[] (the last such text: JSON
  // strings before it cannot hold an unescaped quote).
  const size_t insert_at = text.rfind("\"data\":[]") + 8;
  std::string numbers;
  numbers.reserve(values.size() * 12);
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) numbers.push_back(',');
    AppendFloat(values[i], &numbers);
  }
  text.insert(insert_at, numbers);
  response->body = std::move(text);
}

absl::Status ReadInferRequest(absl::string_view body,
                              std::optional<absl::string_view> header_length,
                              JsonInferRequest* out) {
  MLP_ASSIGN_OR_RETURN(Body parts, SplitBody(body, header_length));
  MLP_ASSIGN_OR_RETURN(out->doc, ParseObject(parts.json));
  MLP_ASSIGN_OR_RETURN(out->id,
                       Member(out->doc, "id", "", IsString, "a string"));
  MLP_ASSIGN_OR_RETURN(out->binary_output,
                       BoolParameter(out->doc, "binary_data_output", ""));
  MLP_RETURN_IF_ERROR(ReadInput(out->doc, parts.binary, out));
  return ReadOutputs(out->doc, &out->outputs, &out->binary_output);
}

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace mlp::service::oip
