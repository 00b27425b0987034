// Needs: PostgreSQL, build/fake-vtiger, build/vtsyncd. Related lists (issue 20), the part built so far:
// `[modules.<Module>] related = [...]` is checked at start against Vtiger's relatedtypes; a label it does
// not list is a configuration error (exit 78 naming the file and the key), a listed one starts.
#include <gtest/gtest.h>

#include "daemon_fixture.hpp"
#include "mirror_compare.hpp"

namespace vt = vtsync::test;
using namespace std::chrono_literals;

namespace {

TEST(Relations, LabelRelatedtypesDoesNotListIsAConfigurationError) {
  vt::daemon_options o;
  o.start_daemon = false;
  o.extra_sync = "\n[modules.Contacts]\nrelated = [\"Potentials\", \"Deals\"]\n";
  vt::daemon_fixture f{o};
  for (const char* command : {"run", "check"}) {
    const auto r = f.vtsyncd({command}, 30s);
    EXPECT_EQ(r.exit_code, 78) << command << ": " << r.output;
    EXPECT_NE(
        r.output.find(f.config_path() +
                      ":modules.Contacts.related: Vtiger's relatedtypes for Contacts has no label 'Deals'"),
        std::string::npos)
        << command << ": " << r.output;
    EXPECT_EQ(r.output.find("label 'Potentials'"), std::string::npos) << r.output;
  }
}

TEST(Relations, LabelsRelatedtypesListsPassTheCheck) {
  vt::daemon_options o;
  o.start_daemon = false;
  o.extra_sync = "\n[modules.Contacts]\nrelated = [\"Potentials\", \"Sales Order\"]\n";
  vt::daemon_fixture f{o};
  const auto r = f.vtsyncd({"check"}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("modules.Contacts.related"), std::string::npos) << r.output;
  // One relatedtypes call per module with `related`, at start.
  EXPECT_EQ(vt::fake_stats(f.fake().port())["requests"].value("relatedtypes", 0), 1) << r.output;
}

}  // namespace
