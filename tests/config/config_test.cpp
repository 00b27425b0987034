// Needs: nothing (writes temp files).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "test_env.hpp"
#include "vtsync/config/config.hpp"

namespace cfg = vtsync::config;
namespace fs = std::filesystem;

namespace {

class temp_dir {
 public:
  temp_dir() {
    char tmpl[] = "/tmp/vtsync-config-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path_); }
  [[nodiscard]] std::string write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const std::string good_body = R"([vtiger]
url = "https://crm.example.com"
username = "sync"
access_key = "AKEY-1234567890"

[postgres]
conninfo = "postgresql:///vtsync"

[sync]
modules = ["Contacts", "Accounts"]
)";

cfg::environment no_env() { return cfg::environment{}; }

std::string load_error(const std::string& path, const cfg::environment& env = no_env()) {
  try {
    (void)cfg::load(path, env);
  } catch (const cfg::config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, LoadsTheContractExampleWithDefaults) {
  temp_dir dir;
  const auto s = cfg::load(dir.write("vtsync.toml", good_body), no_env());
  EXPECT_EQ(s.vtiger.url, "https://crm.example.com/webservice.php");
  EXPECT_EQ(s.vtiger.username, "sync");
  EXPECT_EQ(s.vtiger.access_key, "AKEY-1234567890");
  EXPECT_EQ(s.sync.modules, (std::vector<std::string>{"Contacts", "Accounts"}));
  EXPECT_EQ(s.sync.poll_interval, std::chrono::seconds{30});
  EXPECT_EQ(s.sync.conflicts, cfg::conflict_policy::remote_wins);
  EXPECT_EQ(s.sync.on_remote_delete, cfg::remote_delete_policy::remove);
  EXPECT_EQ(s.postgres.schema, "vtiger");
  EXPECT_EQ(s.health.listen, "127.0.0.1:8089");
  EXPECT_TRUE(s.vtiger.verify_tls);
}

TEST(Config, UrlNormalisation) {
  temp_dir dir;
  auto with_url = [&](const std::string& url) {
    std::string body = good_body;
    body.replace(body.find("https://crm.example.com"), std::string{"https://crm.example.com"}.size(), url);
    return cfg::load(dir.write("u.toml", body), no_env()).vtiger.url;
  };
  EXPECT_EQ(with_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/webservice.php");
  EXPECT_EQ(with_url("https://h/vtiger/"), "https://h/vtiger/webservice.php");
  EXPECT_EQ(with_url("https://h/vtiger/webservice.php"), "https://h/vtiger/webservice.php");
}

TEST(Config, EnvironmentOverridesAndCredentials) {
  temp_dir dir;
  std::string body = good_body;
  body.erase(body.find("access_key = \"AKEY-1234567890\"\n"),
             std::string{"access_key = \"AKEY-1234567890\"\n"}.size());
  const auto path = dir.write("vtsync.toml", body);
  const auto creds = dir.path() / "creds";
  fs::create_directories(creds);
  std::ofstream(creds / "vtiger-access-key") << "FROM-CREDENTIALS\n";

  cfg::environment env;
  env.vars["CREDENTIALS_DIRECTORY"] = creds.string();
  env.vars["VTSYNC_POSTGRES_CONNINFO"] = "host=elsewhere";
  auto s = cfg::load(path, env);
  EXPECT_EQ(s.vtiger.access_key, "FROM-CREDENTIALS");
  EXPECT_EQ(s.postgres.conninfo, "host=elsewhere");

  env.vars["VTSYNC_VTIGER_ACCESS_KEY"] = "FROM-ENV";
  EXPECT_EQ(cfg::load(path, env).vtiger.access_key, "FROM-ENV");
}

// The service reads the key from its credential, root by hand from the file beside the config (the file the
// credential is loaded from); the credential wins when both exist; the environment wins over everything, and
// an access_key_file it overrides is not even read (an unreadable path is no error then).
TEST(Config, AccessKeyFromCredentialOrBesideTheConfigAndEnvironmentFirst) {
  temp_dir dir;
  std::string body = good_body;
  body.erase(body.find("access_key = \"AKEY-1234567890\"\n"),
             std::string{"access_key = \"AKEY-1234567890\"\n"}.size());
  const auto path = dir.write("vtsync.toml", body);
  EXPECT_NE(load_error(path).find("vtsync.toml:vtiger.access_key_file: missing: no access key"),
            std::string::npos)
      << load_error(path);

  (void)dir.write("vtiger-access-key", "BESIDE-KEY\n");
  EXPECT_EQ(cfg::load(path, no_env()).vtiger.access_key, "BESIDE-KEY");

  const auto creds = dir.path() / "creds";
  fs::create_directories(creds);
  std::ofstream(creds / "vtiger-access-key") << "FROM-CREDENTIALS\n";
  cfg::environment env;
  env.vars["CREDENTIALS_DIRECTORY"] = creds.string();
  EXPECT_EQ(cfg::load(path, env).vtiger.access_key, "FROM-CREDENTIALS");

  std::string unreadable = good_body;
  unreadable.replace(unreadable.find("access_key = \"AKEY-1234567890\""),
                     std::string{"access_key = \"AKEY-1234567890\""}.size(),
                     "access_key_file = \"/nonexistent/key\"");
  const auto with_file = dir.write("file.toml", unreadable);
  EXPECT_NE(load_error(with_file).find("vtiger.access_key_file: cannot read '/nonexistent/key'"),
            std::string::npos);
  cfg::environment from_env;
  from_env.vars["VTSYNC_VTIGER_ACCESS_KEY"] = "FROM-ENV";
  EXPECT_EQ(cfg::load(with_file, from_env).vtiger.access_key, "FROM-ENV");
}

TEST(Config, AccessKeyFileIsReadAndTrimmed) {
  temp_dir dir;
  const auto key_file = dir.write("key", "KEYFILE-VALUE\n");
  std::string body = good_body;
  body.replace(body.find("access_key = \"AKEY-1234567890\""),
               std::string{"access_key = \"AKEY-1234567890\""}.size(),
               "access_key_file = \"" + key_file + "\"");
  EXPECT_EQ(cfg::load(dir.write("vtsync.toml", body), no_env()).vtiger.access_key, "KEYFILE-VALUE");
}

struct bad_case {
  const char* name;
  std::string body;          // file content; "<missing>" = no file
  std::string expected_key;  // must appear in the message as ":<key>:"
  std::string expected_text;
};

class BadConfig : public ::testing::TestWithParam<bad_case> {};

TEST_P(BadConfig, NamesFileKeyAndProblem) {
  temp_dir dir;
  const auto& c = GetParam();
  const std::string path =
      c.body == "<missing>" ? (dir.path() / "absent.toml").string() : dir.write("vtsync.toml", c.body);
  const auto message = load_error(path);
  ASSERT_FALSE(message.empty()) << "no error for " << c.name;
  EXPECT_EQ(message.rfind(path + ":", 0), 0U) << message;
  if (!c.expected_key.empty()) {
    EXPECT_NE(message.find(":" + c.expected_key + ":"), std::string::npos) << message;
  }
  EXPECT_NE(message.find(c.expected_text), std::string::npos) << message;
  EXPECT_EQ(message.find("AKEY-1234567890"), std::string::npos) << "secret leaked: " << message;
}

std::string replace(std::string body, const std::string& from, const std::string& to) {
  return body.replace(body.find(from), from.size(), to);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfig,
    ::testing::Values(
        bad_case{"missing_file", "<missing>", "", "cannot read"},
        bad_case{"bad_toml", "[vtiger\nurl = 1", "", "invalid TOML"},
        bad_case{"unknown_key", good_body + "\n[log]\nlevle = \"info\"\n", "log.levle", "unknown key"},
        bad_case{"unknown_section", good_body + "\n[extra]\nx = 1\n", "extra", "unknown section"},
        bad_case{"wrong_type", replace(good_body, "username = \"sync\"", "username = 42"), "vtiger.username",
                 "expected a string"},
        bad_case{"bad_duration", good_body + "poll_interval = \"30 seconds\"\n", "sync.poll_interval",
                 "not a duration"},
        bad_case{"duration_too_short", good_body + "poll_interval = \"10ms\"\n", "sync.poll_interval",
                 "must be between"},
        bad_case{
            "unreadable_key_file",
            replace(good_body, "access_key = \"AKEY-1234567890\"", "access_key_file = \"/nonexistent/key\""),
            "vtiger.access_key_file", "cannot read"},
        bad_case{"bad_url", replace(good_body, "https://crm.example.com", "crm.example.com"), "vtiger.url",
                 "not an absolute URL"},
        bad_case{"ftp_url", replace(good_body, "https://crm.example.com", "ftp://crm.example.com"),
                 "vtiger.url", "scheme"},
        bad_case{"empty_modules", replace(good_body, "[\"Contacts\", \"Accounts\"]", "[]"), "sync.modules",
                 "empty"},
        bad_case{"duplicate_module",
                 replace(good_body, "[\"Contacts\", \"Accounts\"]", "[\"Contacts\", \"Contacts\"]"),
                 "sync.modules", "twice"},
        bad_case{"bad_policy", good_body + "conflict_policy = \"mine\"\n", "sync.conflict_policy",
                 "not one of"},
        bad_case{"missing_url", replace(good_body, "url = \"https://crm.example.com\"\n", ""), "vtiger.url",
                 "required"},
        bad_case{"no_access_key", replace(good_body, "access_key = \"AKEY-1234567890\"\n", ""),
                 "vtiger.access_key_file", "no access key"},
        bad_case{"both_keys",
                 replace(good_body, "access_key = \"AKEY-1234567890\"",
                         "access_key_file = \"/etc/hostname\"\naccess_key = \"AKEY-1234567890\""),
                 "vtiger.access_key", "not both"},
        bad_case{"bad_listen", good_body + "\n[health]\nlisten = \"everywhere\"\n", "health.listen",
                 "host:port"},
        bad_case{"bad_owner", good_body + "default_assigned_user_id = \"admin\"\n",
                 "sync.default_assigned_user_id", "not a Vtiger id"},
        bad_case{"module_table_not_synced", good_body + "\n[modules.Leads]\ndirection = \"pull_only\"\n",
                 "modules.Leads", "not in sync.modules"},
        bad_case{"module_table_unknown_key", good_body + "\n[modules.Contacts]\ndirecton = \"pull_only\"\n",
                 "modules.Contacts.directon", "unknown key"},
        bad_case{"module_bad_direction", good_body + "\n[modules.Contacts]\ndirection = \"read_only\"\n",
                 "modules.Contacts.direction", "not one of: two_way, pull_only"},
        bad_case{"module_fields_and_exclude",
                 good_body + "\n[modules.Contacts]\nfields = [\"lastname\"]\nexclude_fields = [\"email\"]\n",
                 "modules.Contacts.exclude_fields", "not both"},
        bad_case{"module_bad_field_name", good_body + "\n[modules.Contacts]\nfields = [\"last name\"]\n",
                 "modules.Contacts.fields", "not a Vtiger field name"},
        bad_case{"module_filter_parentheses",
                 good_body + "\n[modules.Contacts]\nfilter = \"(a = '1' OR b = '2') AND c = '3'\"\n",
                 "modules.Contacts.filter", "parenthesis"},
        bad_case{"module_filter_order_by",
                 good_body + "\n[modules.Contacts]\nfilter = \"a = '1' ORDER BY b\"\n",
                 "modules.Contacts.filter", "condition only"},
        bad_case{"module_filter_semicolon", good_body + "\n[modules.Contacts]\nfilter = \"a = '1'; x\"\n",
                 "modules.Contacts.filter", "';'"},
        bad_case{"module_filter_open_quote", good_body + "\n[modules.Contacts]\nfilter = \"a = 'O'Brien'\"\n",
                 "modules.Contacts.filter", "does not end"},
        bad_case{"module_bad_policy", good_body + "\n[modules.Accounts]\non_remote_delete = \"keep\"\n",
                 "modules.Accounts.on_remote_delete", "not one of"},
        bad_case{"reserved_schema",
                 replace(good_body, "conninfo = \"postgresql:///vtsync\"",
                         "conninfo = \"postgresql:///vtsync\"\nschema = \"vtsync\""),
                 "postgres.schema", "reserved"}),
    [](const ::testing::TestParamInfo<bad_case>& param_info) { return std::string{param_info.param.name}; });

TEST(Config, ReloadDetectsKeysThatNeedARestart) {
  temp_dir dir;
  const auto before = cfg::load(dir.write("a.toml", good_body), no_env());
  const auto after = cfg::load(
      dir.write("b.toml", good_body + "poll_interval = \"5s\"\n\n[health]\nlisten = \"127.0.0.1:9000\"\n"),
      no_env());
  EXPECT_EQ(cfg::restart_required_changes(before, after), std::vector<std::string>{"health.listen"});
}

TEST(Config, SampleConfigIsValidAndNamesEveryKey) {
  temp_dir dir;
  const auto sample = cfg::render_sample_toml();
  for (const auto& k : cfg::key_table()) {
    const auto key = k.name.substr(k.name.rfind('.') + 1);
    EXPECT_NE(sample.find(key + " = "), std::string::npos) << k.name;
  }
  // As packaged (/etc/vtsync/vtsync.toml) the sample names no key: it loads with the key file beside it, the
  // way root's `vtsyncd check` finds it, and fails naming the key without one.
  const auto path = dir.write("vtsync.toml", sample);
  EXPECT_THROW((void)cfg::load(path, no_env()), cfg::config_error);
  (void)dir.write("vtiger-access-key", "K\n");
  EXPECT_NO_THROW((void)cfg::load(path, no_env()));
}

TEST(Config, CheckedInSampleMatchesTheKeyTable) {
  std::ifstream in(std::string{VTSYNC_SOURCE_DIR} + "/config/vtsync.toml.example");
  ASSERT_TRUE(in) << "config/vtsync.toml.example is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), cfg::render_sample_toml())
      << "regenerate it: build/vtsyncd config-sample > config/vtsync.toml.example";
}

TEST(Config, ReadmeReferenceMatchesTheKeyTable) {
  std::ifstream in(std::string{VTSYNC_SOURCE_DIR} + "/README.md");
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto readme = ss.str();
  const std::string begin = "<!-- config-reference:begin -->\n";
  const std::string end = "<!-- config-reference:end -->";
  const auto b = readme.find(begin);
  const auto e = readme.find(end);
  ASSERT_NE(b, std::string::npos) << "README.md lacks the config reference markers";
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(readme.substr(b + begin.size(), e - b - begin.size()), cfg::render_reference_markdown())
      << "regenerate it: scripts/update-docs";
  // And the reverse: every `section.key` the README mentions exists.
  std::regex key_re{"`((vtiger|postgres|sync|health|log)\\.[a-z_]+)`"};
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), key_re); it != std::sregex_iterator();
       ++it) {
    const auto name = (*it)[1].str();
    bool found = false;
    for (const auto& k : cfg::key_table()) found = found || k.name == name;
    EXPECT_TRUE(found) << "README names unknown key " << name;
  }
}

namespace {

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::string{VTSYNC_SOURCE_DIR} + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> key_table_names() {
  std::set<std::string> names;
  for (const auto& k : cfg::key_table()) names.insert(k.name);
  return names;
}

// What `expected` has and `actual` lacks, as one line for a failure message.
std::string missing_from(const std::set<std::string>& expected, const std::set<std::string>& actual) {
  std::string out;
  for (const auto& name : expected)
    if (!actual.count(name)) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

// The documents a user reads name the same keys as the key table, both ways: the rows of the README's
// reference table, and the keys (active or commented out) of config/vtsync.toml.example section by section.
TEST(Config, ReadmeTableAndSampleFileNameExactlyTheKeyTable) {
  const auto table = key_table_names();
  const auto readme = read_source_file("README.md");
  const auto b = readme.find("<!-- config-reference:begin -->");
  const auto e = readme.find("<!-- config-reference:end -->");
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  std::set<std::string> in_readme;
  {
    std::istringstream lines(readme.substr(b, e - b));
    static const std::regex row_re{R"(^\| `([a-z_]+\.(<Module>\.)?[a-z_]+)` \|)"};
    std::smatch m;
    for (std::string line; std::getline(lines, line);)
      if (std::regex_search(line, m, row_re)) in_readme.insert(m[1].str());
  }
  EXPECT_EQ(missing_from(table, in_readme), "") << "keys missing from the README reference table";
  EXPECT_EQ(missing_from(in_readme, table), "") << "README reference rows that are not keys";

  const auto sample = read_source_file("config/vtsync.toml.example");
  ASSERT_FALSE(sample.empty()) << "config/vtsync.toml.example is missing";
  std::set<std::string> in_sample;
  {
    std::istringstream lines(sample);
    // [section], [[array-of-tables]] (also commented out, as the sample shows several instances)
    // [modules.Contacts] (commented out: a per-module table) stands for the keys modules.<Module>.*
    static const std::regex section_re{R"(^(# )?\[\[?([a-z_]+)(\.[A-Za-z_]+)?\]\]?\s*$)"};
    static const std::regex key_re{R"(^(# )?([a-z_]+) = )"};
    std::string section;
    std::smatch m;
    for (std::string line; std::getline(lines, line);) {
      if (std::regex_search(line, m, section_re)) {
        section = m[2].str() + (m[3].matched ? ".<Module>" : "");
      } else if (std::regex_search(line, m, key_re)) {
        EXPECT_FALSE(section.empty()) << "key before any section: " << line;
        in_sample.insert(section + "." + m[2].str());
      }
    }
  }
  EXPECT_EQ(missing_from(table, in_sample), "") << "keys missing from config/vtsync.toml.example";
  EXPECT_EQ(missing_from(in_sample, table), "") << "config/vtsync.toml.example names unknown keys";
}

// Several Vtiger instances: [[vtiger]] tables, each with its own name, schema, modules and key.
TEST(Config, SeveralVtigerInstances) {
  temp_dir dir;
  const auto key = dir.write("us.key", "US-KEY-0987654321\n");
  const auto path = dir.write("multi.toml", R"([postgres]
conninfo = "postgresql:///vtsync"
schema = "ignored_default"

[sync]
modules = ["Contacts"]
idempotency_field = "cf_901"

[[vtiger]]
name = "eu"
url = "https://eu.example.com"
username = "sync"
access_key = "EU-KEY-1234567890"
schema = "vtiger_eu"

[[vtiger]]
name = "us"
url = "https://us.example.com/crm/"
username = "sync2"
access_key_file = ")" + key + R"("
schema = "vtiger_us"
modules = ["Contacts", "Accounts"]
idempotency_field = "cf_777"
)");
  const auto s = cfg::load(path, no_env());
  ASSERT_EQ(s.instances.size(), 2u);
  EXPECT_EQ(s.instances[0].vtiger.name, "eu");
  EXPECT_EQ(s.instances[0].postgres.schema, "vtiger_eu");
  EXPECT_EQ(s.instances[0].sync.modules, std::vector<std::string>{"Contacts"});
  EXPECT_EQ(s.instances[0].sync.idempotency_field, "cf_901");
  EXPECT_EQ(s.instances[1].vtiger.url, "https://us.example.com/crm/webservice.php");
  EXPECT_EQ(s.instances[1].vtiger.access_key, "US-KEY-0987654321");
  EXPECT_EQ(s.instances[1].postgres.schema, "vtiger_us");
  EXPECT_EQ(s.instances[1].sync.modules, (std::vector<std::string>{"Contacts", "Accounts"}));
  EXPECT_EQ(s.instances[1].sync.idempotency_field, "cf_777");
  EXPECT_EQ(s.instances[1].postgres.conninfo, "postgresql:///vtsync");
  // The first instance stands for the file where one is expected.
  EXPECT_EQ(s.vtiger.name, "eu");
  EXPECT_EQ(s.postgres.schema, "vtiger_eu");

  // The single form is one instance, unchanged.
  const auto single = cfg::load(dir.write("one.toml", good_body), no_env());
  ASSERT_EQ(single.instances.size(), 1u);
  EXPECT_EQ(single.instances[0].vtiger.name, "default");
  EXPECT_EQ(single.instances[0].postgres.schema, "vtiger");
}

TEST(Config, SeveralVtigerInstancesAreChecked) {
  temp_dir dir;
  const std::string head =
      "[postgres]\nconninfo = \"postgresql:///vtsync\"\n[sync]\nmodules = [\"Contacts\"]\n";
  const std::string a =
      "[[vtiger]]\nname = \"a\"\nurl = \"https://a.example.com\"\nusername = \"u\"\n"
      "access_key = \"K-1234567890\"\nschema = \"sa\"\n";
  EXPECT_NE(load_error(dir.write("dup.toml", head + a + a)).find("vtiger[1].name: 'a' is used twice"),
            std::string::npos)
      << load_error(dir.write("dup.toml", head + a + a));
  const std::string same_schema =
      "[[vtiger]]\nname = \"b\"\nurl = \"https://b.example.com\"\nusername = \"u\"\n"
      "access_key = \"K-1234567890\"\nschema = \"sa\"\n";
  EXPECT_NE(load_error(dir.write("schema.toml", head + a + same_schema)).find("vtiger[1].schema"),
            std::string::npos);
  const std::string no_schema =
      "[[vtiger]]\nname = \"c\"\nurl = \"https://c.example.com\"\nusername = \"u\"\n"
      "access_key = \"K-1234567890\"\n";
  EXPECT_NE(load_error(dir.write("noschema.toml", head + no_schema)).find("vtiger[0].schema: missing"),
            std::string::npos);
  const std::string bad_key = a + "colour = \"red\"\n";
  EXPECT_NE(load_error(dir.write("bad.toml", head + bad_key)).find("vtiger[0].colour: unknown key"),
            std::string::npos);
  const std::string no_key =
      "[[vtiger]]\nname = \"d\"\nurl = \"https://d.example.com\"\nusername = \"u\"\n"
      "schema = \"sd\"\n";
  const auto err = load_error(dir.write("nokey.toml", head + no_key));
  EXPECT_NE(err.find("vtiger[0].access_key_file: missing"), std::string::npos) << err;
}

// Found by tests/fuzz/fuzz_config: the name checks used std::regex, whose libstdc++ executor recurses once
// per character, so a 300 kB module name (or id, zone, listen address) overflowed the stack: vtsyncd
// crashed instead of exiting 78. They are hand-written now; the same checks must still hold.
TEST(ConfigFuzzRegressions, VeryLongValuesAreReportedNotACrash) {
  const std::string huge(300000, 'A');
  const auto with = [&](const std::string& extra) { return good_body + extra; };
  auto expect_error = [&](const std::string& text, const std::string& key) {
    try {
      (void)cfg::load_from_string(text, "long.toml", no_env());
      ADD_FAILURE() << "accepted a configuration with a 300 kB value in " << key;
    } catch (const cfg::config_error& e) {
      EXPECT_NE(std::string(e.what()).find("long.toml:" + key), std::string::npos) << key;
    }
  };
  expect_error(good_body + "\n[health]\nlisten = \"" + huge + ":80\"\n", "health.listen");
  const std::string sync_head =
      R"([vtiger]
url = "https://crm.example.com"
username = "sync"
access_key = "AKEY-1234567890"
server_timezone = ")" +
      huge + "!\"\n[postgres]\nconninfo = \"postgresql:///vtsync\"\n[sync]\nmodules = [\"Contacts\"]\n";
  expect_error(sync_head, "vtiger.server_timezone");
  std::string body = good_body;
  body.replace(body.find("\"Contacts\""), 10, "\"" + huge + "-\"");
  expect_error(body, "sync.modules");
  expect_error(with("default_assigned_user_id = \"" + std::string(300000, '1') + "y1\"\n"),
               "sync.default_assigned_user_id");
  // Long but well-formed values are fine.
  std::string ok = good_body;
  ok.replace(ok.find("\"Contacts\""), 10, "\"" + huge + "\"");
  EXPECT_EQ(cfg::load_from_string(ok, "long.toml", no_env()).sync.modules.front().size(), huge.size());
}

TEST(ConfigFuzzRegressions, HandWrittenChecksMatchTheOldPatterns) {
  const auto listen_ok = [](const std::string& v) {
    try {
      (void)cfg::load_from_string(good_body + "\n[health]\nlisten = \"" + v + "\"\n", "l.toml", no_env());
      return true;
    } catch (const cfg::config_error&) {
      return false;
    }
  };
  for (const char* ok : {"127.0.0.1:8089", "[::1]:8089", "localhost:1", "0.0.0.0:65535"})
    EXPECT_TRUE(listen_ok(ok)) << ok;
  for (const char* bad :
       {"[fe80::1%]:1", "127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:123456", "host:80",
        "[]:80", "[::1:80", "127.0.0.1:8a", "localhost:80:80"})
    EXPECT_FALSE(listen_ok(bad)) << bad;

  const auto zone_ok = [](const std::string& z) {
    std::string body = good_body;
    body.insert(body.find("\n\n[postgres]"), "\nserver_timezone = \"" + z + "\"");
    try {
      (void)cfg::load_from_string(body, "z.toml", no_env());
      return true;
    } catch (const cfg::config_error&) {
      return false;
    }
  };
  for (const char* ok : {"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"})
    EXPECT_TRUE(zone_ok(ok)) << ok;
  for (const char* bad : {"/UTC", "UTC/", "Europe//Berlin", "Europe/Ber lin", "a;b"})
    EXPECT_FALSE(zone_ok(bad)) << bad;
}

// [modules.<Module>] tables: what they set, and [sync] as the default of what they leave out.
TEST(Config, PerModuleSettingsWithSyncDefaults) {
  temp_dir dir;
  const auto s = cfg::load(dir.write("m.toml", good_body + R"(conflict_policy = "newest_wins"
on_remote_delete = "mark"

[modules.Contacts]
direction = "pull_only"
exclude_fields = ["description", "mailingstreet"]
filter = "mailingcountry = 'Germany (West)' OR lastname LIKE 'O''%'"
on_remote_delete = "delete"

[modules.Accounts]
fields = ["accountname", "website"]
)"),
                           no_env());
  const auto contacts = s.sync.scope_of("Contacts");
  EXPECT_EQ(contacts.direction, cfg::sync_direction::pull_only);
  EXPECT_EQ(contacts.exclude_fields, (std::vector<std::string>{"description", "mailingstreet"}));
  EXPECT_TRUE(contacts.fields.empty());
  EXPECT_EQ(contacts.filter, "mailingcountry = 'Germany (West)' OR lastname LIKE 'O''%'");
  EXPECT_EQ(contacts.on_remote_delete, cfg::remote_delete_policy::remove);
  EXPECT_EQ(contacts.conflicts, cfg::conflict_policy::newest_wins);  // from [sync]
  const auto accounts = s.sync.scope_of("Accounts");
  EXPECT_EQ(accounts.direction, cfg::sync_direction::two_way);
  EXPECT_EQ(accounts.fields, (std::vector<std::string>{"accountname", "website"}));
  EXPECT_TRUE(accounts.filter.empty());
  EXPECT_EQ(accounts.on_remote_delete, cfg::remote_delete_policy::mark);  // from [sync]
  ASSERT_EQ(s.instances.size(), 1U);
  EXPECT_EQ(s.instances[0].sync.scope_of("Contacts").direction, cfg::sync_direction::pull_only);
  // The shape of the mirror is read at start only: a changed module table is reported by a reload.
  const auto wider = cfg::load(dir.write("w.toml", good_body), no_env());
  EXPECT_EQ(cfg::restart_required_changes(s, wider).size(), 5U);
}
