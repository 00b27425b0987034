// vtsyncd: keeps a PostgreSQL mirror of Vtiger CRM modules in two-way sync.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "vtsync/daemon/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vtsyncd: two-way sync between Vtiger CRM and PostgreSQL"};
  app.set_version_flag("--version", std::string{vtsync::daemon::version()});
  CLI11_PARSE(app, argc, argv);
  std::cout << app.help();
  return 0;
}
