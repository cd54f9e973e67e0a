// ParseJsonOrYaml: one nlohmann::json value from JSON or YAML text, with YAML scalars typed the
// way the pod parser expects.
#include "policy/document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace numapin {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json MustParse(const std::string& text) {
  absl::StatusOr<json> value = ParseJsonOrYaml(text, "input");
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() ? *value : json();
}

TEST(ParseJsonOrYaml, YamlScalarTypes) {
  json value = MustParse(R"(
plain_number: 2
quoted_number: "2"
tilde: ~
null_word: null
empty:
yes_bool: true
quoted_bool: "true"
single_quoted: 'false'
text: 1Gi
)");
  EXPECT_EQ(value["plain_number"], "2") << "plain scalars stay text, as quantities need";
  EXPECT_EQ(value["quoted_number"], "2");
  EXPECT_TRUE(value["tilde"].is_null());
  EXPECT_TRUE(value["null_word"].is_null());
  EXPECT_TRUE(value["empty"].is_null());
  EXPECT_EQ(value["yes_bool"], true);
  EXPECT_EQ(value["quoted_bool"], "true");
  EXPECT_EQ(value["single_quoted"], "false");
  EXPECT_EQ(value["text"], "1Gi");
}

TEST(ParseJsonOrYaml, YamlCollections) {
  json value = MustParse("list: [a, b]\nnested: {key: {deeper: x}}\nanchor: &a v\nalias: *a\n");
  EXPECT_EQ(value["list"], json::array({"a", "b"}));
  EXPECT_EQ(value["nested"]["key"]["deeper"], "x");
  EXPECT_EQ(value["alias"], "v");
}

TEST(ParseJsonOrYaml, JsonKeepsTypes) {
  json value = MustParse(R"(  {"n": 2, "s": "2", "b": false, "z": null})");
  EXPECT_EQ(value["n"], 2);
  EXPECT_EQ(value["s"], "2");
  EXPECT_EQ(value["b"], false);
  EXPECT_TRUE(value["z"].is_null());
}

TEST(ParseJsonOrYaml, ErrorsNameInput) {
  absl::StatusOr<json> json_error = ParseJsonOrYaml("{\"a\": }", "pod.json");
  ASSERT_FALSE(json_error.ok());
  EXPECT_THAT(std::string(json_error.status().message()), HasSubstr("pod.json is not valid JSON"));

  absl::StatusOr<json> yaml_error = ParseJsonOrYaml("a: [b\n", "pod.yaml");
  ASSERT_FALSE(yaml_error.ok());
  EXPECT_THAT(std::string(yaml_error.status().message()), HasSubstr("pod.yaml is not valid YAML"));

  absl::StatusOr<json> complex_key = ParseJsonOrYaml("? [a, b]\n: c\n", "keys.yaml");
  ASSERT_FALSE(complex_key.ok());
  EXPECT_THAT(std::string(complex_key.status().message()), HasSubstr("not a plain string"));

  absl::StatusOr<json> two = ParseJsonOrYaml("a: 1\n---\nb: 2\n", "two.yaml");
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(std::string(two.status().message()), HasSubstr("two.yaml contains 2 YAML documents"));

  absl::StatusOr<json> empty = ParseJsonOrYaml(" \n\t", "empty.yaml");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("empty.yaml is empty"));
}

TEST(ParseJsonOrYaml, DeepNestingRejected) {
  std::string deep(300, '[');
  deep = "a: " + deep + std::string(300, ']') + "\n";
  absl::StatusOr<json> value = ParseJsonOrYaml(deep, "deep.yaml");
  ASSERT_FALSE(value.ok());
  EXPECT_THAT(std::string(value.status().message()), HasSubstr("nesting deeper than"));
}

}  // namespace
}  // namespace numapin
