#include <gtest/gtest.h>

#include "vtsync/storage/conninfo.hpp"

using vtsync::storage::scrub_conninfo;

TEST(Conninfo, HidesPasswordInKeyValueForm) {
  const auto out = scrub_conninfo("host=db user=sync password='s3cr et' dbname=crm");
  EXPECT_EQ(out.find("s3cr"), std::string::npos) << out;
  EXPECT_NE(out.find("password=***"), std::string::npos) << out;
  EXPECT_NE(out.find("host='db'"), std::string::npos) << out;
}

TEST(Conninfo, HidesPasswordInUri) {
  const auto out = scrub_conninfo("postgresql://sync:Hunter2@db.example:5433/crm");
  EXPECT_EQ(out.find("Hunter2"), std::string::npos) << out;
  EXPECT_NE(out.find("port='5433'"), std::string::npos) << out;
}

TEST(Conninfo, UnparsableInputLeaksNothing) {
  EXPECT_EQ(scrub_conninfo("host=db password='unterminated"), "<unparsable conninfo>");
}
