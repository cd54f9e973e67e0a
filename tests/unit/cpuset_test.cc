// CpuSet: kernel list format parsing and printing, and set algebra.
#include "policy/cpuset.h"

#include <gtest/gtest.h>

namespace numapin {
namespace {

TEST(CpuSetParse, RoundTripsKernelListFormat) {
  struct Case {
    const char* text;
    const char* printed;
    int size;
  };
  const Case cases[] = {
      {"", "", 0},           {"0", "0", 1},
      {"0-3", "0-3", 4},     {"0-3,8,10-11", "0-3,8,10-11", 7},
      {"3,2,1,0", "0-3", 4}, {"  0-1\n", "0-1", 2},
      {"5-5", "5", 1},       {"63-64", "63-64", 2},
      {"0,2,4", "0,2,4", 3}, {"1-2,2-3", "1-3", 3},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CpuSet> set = CpuSet::Parse(c.text);
    ASSERT_TRUE(set.ok()) << c.text << ": " << set.status();
    EXPECT_EQ(set->ToString(), c.printed) << c.text;
    EXPECT_EQ(set->Size(), c.size) << c.text;
  }
}

TEST(CpuSetParse, RejectsMalformedTextNamingIt) {
  const char* bad[] = {"a", "1-", "-1", "3-1", "1,,2", "1 2", "0x3", "1.5", ",", "70000", "1-2-3"};
  for (const char* text : bad) {
    absl::StatusOr<CpuSet> set = CpuSet::Parse(text);
    ASSERT_FALSE(set.ok()) << "accepted \"" << text << "\"";
    EXPECT_NE(set.status().message().find(text), std::string::npos)
        << "error does not name the text: " << set.status();
  }
}

TEST(CpuSetAlgebra, UnionIntersectionDifference) {
  CpuSet a = *CpuSet::Parse("0-7");
  CpuSet b = *CpuSet::Parse("4-11");
  EXPECT_EQ(a.Union(b).ToString(), "0-11");
  EXPECT_EQ(a.Intersection(b).ToString(), "4-7");
  EXPECT_EQ(a.Difference(b).ToString(), "0-3");
  EXPECT_TRUE(a.Intersects(b));
  EXPECT_FALSE(a.Difference(b).Intersects(b));
  EXPECT_TRUE(a.Intersection(b).IsSubsetOf(a));
  EXPECT_FALSE(a.IsSubsetOf(b));
  EXPECT_TRUE(CpuSet().IsSubsetOf(a));
}

TEST(CpuSetAlgebra, EqualityIgnoresHighEmptyWords) {
  CpuSet a{1, 200};
  a.Remove(200);
  EXPECT_EQ(a, CpuSet{1});
  CpuSet b = *CpuSet::Parse("1,130");
  b -= CpuSet{130};
  EXPECT_EQ(b, CpuSet{1});
  EXPECT_EQ(b.First(), 1);
  EXPECT_EQ(CpuSet().First(), -1);
}

}  // namespace
}  // namespace numapin
