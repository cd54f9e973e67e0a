// JSON and YAML parsing behind one function; library exceptions stop here and become statuses.
#include "policy/document.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace numapin {
namespace {

// Deep enough for any Kubernetes object; a guard against stack exhaustion on hostile input.
constexpr int kMaxDepth = 256;

absl::StatusOr<nlohmann::json> YamlScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  // Quoted scalars carry the tag "!"; only plain ones are null or booleans.
  if (node.Tag() != "!") {
    if (text == "null" || text == "Null" || text == "NULL" || text == "~") return nullptr;
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  return text;
}

absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("nesting deeper than ", kMaxDepth, " levels at line ", node.Mark().line + 1));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      return YamlScalarToJson(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<nlohmann::json> value = YamlToJson(item, depth + 1);
        if (!value.ok()) return value.status();
        array.push_back(*std::move(value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "a mapping key at line ", entry.first.Mark().line + 1, " is not a plain string"));
        }
        absl::StatusOr<nlohmann::json> value = YamlToJson(entry.second, depth + 1);
        if (!value.ok()) return value.status();
        object[entry.first.Scalar()] = *std::move(value);
      }
      return object;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsonOrYaml(absl::string_view text,
                                               absl::string_view source_name) {
  absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(text);
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, " is empty; expected JSON or YAML"));
  }

  if (trimmed[0] == '{' || trimmed[0] == '[') {
    try {
      return nlohmann::json::parse(trimmed.begin(), trimmed.end());
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, " is not valid JSON: ", e.what()));
    }
  }

  try {
    // LoadAll, because Load would silently drop every document after the first.
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
    if (documents.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, " contains ", documents.size(),
                                                     " YAML documents; expected exactly one"));
    }
    absl::StatusOr<nlohmann::json> value = YamlToJson(documents[0], 0);
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, " is not valid YAML: ", value.status().message()));
    }
    return value;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, " is not valid YAML: ", e.what()));
  }
}

}  // namespace numapin
