// Needs: nothing (unit). Plays systemd: a NOTIFY_SOCKET datagram socket in a temp dir, WATCHDOG_USEC in
// the environment, signals raised inside this process.
#include "vtsync/daemon/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>

#include "vtsync/daemon/signals.hpp"

namespace vtsync::daemon {
namespace {

namespace asio = boost::asio;

// The service manager's end of the notification socket.
class fake_systemd {
 public:
  fake_systemd() {
    char dir_template[] = "/tmp/vtsync-notify-XXXXXX";
    if (!mkdtemp(dir_template)) throw std::runtime_error("mkdtemp failed");
    dir_ = dir_template;
    path_ = dir_ + "/notify.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind the notify socket");
    timeval tv{10, 0};  // a missing message fails the test instead of hanging it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    ::unsetenv("WATCHDOG_PID");
  }
  ~fake_systemd() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  fake_systemd(const fake_systemd&) = delete;
  fake_systemd& operator=(const fake_systemd&) = delete;

  // The next datagram, or nothing after the receive timeout.
  std::optional<std::string> receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // Without waiting: is anything queued?
  bool has_pending() {
    char buf[16];
    return ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK) >= 0;
  }
  // Skips watchdog pings until a message other than WATCHDOG=1 arrives.
  std::optional<std::string> receive_skipping_pings() {
    for (;;) {
      auto m = receive();
      if (!m || *m != "WATCHDOG=1") return m;
    }
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

// Runs the loop on a thread; the test requires run() to return by itself once everything was stopped.
void expect_loop_ends(std::future<void>& loop, asio::io_context& ioc) {
  if (loop.wait_for(std::chrono::seconds{10}) != std::future_status::ready) {
    ioc.stop();
    loop.wait();
    FAIL() << "io_context::run() did not return after the stop";
  }
}

TEST(systemd_notify, ready_watchdog_pings_and_stopping_on_sigterm) {
  fake_systemd systemd;
  ::setenv("WATCHDOG_USEC", "200000", 1);
  asio::io_context ioc;
  systemd_notifier notifier;
  ASSERT_TRUE(notifier.enabled());
  ASSERT_EQ(notifier.watchdog_timeout(), std::chrono::microseconds{200000});

  std::atomic<int> stops{0};
  std::optional<signal_handler> signals;
  signals.emplace(ioc.get_executor(), signal_callbacks{.on_stop = [&](int signo) {
                    EXPECT_EQ(signo, SIGTERM);
                    ++stops;
                    // What `vtsyncd run` does, minus the work.
                    notifier.stopping();
                    notifier.stop_watchdog();
                    signals->stop();
                  }});
  asio::post(ioc, [&] {
    notifier.ready();
    notifier.start_watchdog(ioc.get_executor());
    signals->start();
  });
  auto loop = std::async(std::launch::async, [&] { ioc.run(); });

  EXPECT_EQ(systemd.receive(), "READY=1");
  // Pings every WATCHDOG_USEC/2 = 100 ms; three in a row (10 s allowed for each) show the timer loops.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(systemd.receive(), "WATCHDOG=1") << "ping " << i;

  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_EQ(systemd.receive_skipping_pings(), "STOPPING=1");
  expect_loop_ends(loop, ioc);  // the pinger and the signal waiter both ended
  EXPECT_EQ(stops, 1);
  EXPECT_FALSE(systemd.has_pending()) << "a ping arrived after the watchdog was stopped";
}

TEST(systemd_notify, sighup_reloads_and_reports_reloading_then_ready) {
  fake_systemd systemd;
  asio::io_context ioc;
  systemd_notifier notifier;
  std::atomic<int> reloads{0};
  std::optional<signal_handler> signals;
  signals.emplace(ioc.get_executor(), signal_callbacks{.on_reload = [&] {
                    notifier.reloading();
                    ++reloads;
                    notifier.ready();
                    signals->stop();
                  }});
  signals->start();
  auto loop = std::async(std::launch::async, [&] { ioc.run(); });
  ASSERT_EQ(std::raise(SIGHUP), 0);
  auto reloading = systemd.receive();
  ASSERT_TRUE(reloading);
  EXPECT_TRUE(reloading->starts_with("RELOADING=1\nMONOTONIC_USEC=")) << *reloading;
  EXPECT_EQ(systemd.receive(), "READY=1");
  expect_loop_ends(loop, ioc);
  EXPECT_EQ(reloads, 1);
}

TEST(systemd_notify, second_stop_signal_forces) {
  asio::io_context ioc;
  std::atomic<int> stops{0};
  std::atomic<int> forced{0};
  std::promise<void> first_seen;
  std::optional<signal_handler> signals;
  signals.emplace(ioc.get_executor(), signal_callbacks{.on_stop =
                                                           [&](int) {
                                                             ++stops;
                                                             first_seen.set_value();
                                                           },
                                                       .on_force_stop =
                                                           [&](int signo) {
                                                             EXPECT_EQ(signo, SIGINT);
                                                             ++forced;
                                                             signals->stop();
                                                           }});
  signals->start();
  auto loop = std::async(std::launch::async, [&] { ioc.run(); });
  ASSERT_EQ(std::raise(SIGTERM), 0);
  ASSERT_EQ(first_seen.get_future().wait_for(std::chrono::seconds{10}), std::future_status::ready);
  ASSERT_EQ(std::raise(SIGINT), 0);
  expect_loop_ends(loop, ioc);
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(forced, 1);
  EXPECT_TRUE(signals->stop_requested());
}

TEST(systemd_notify, status_text_is_one_line) {
  fake_systemd systemd;
  systemd_notifier notifier;
  notifier.status("Contacts: 12 pulled\nAccounts: idle");
  EXPECT_EQ(systemd.receive(), "STATUS=Contacts: 12 pulled Accounts: idle");
}

TEST(systemd_notify, a_stuck_daemon_stops_pinging) {
  fake_systemd systemd;
  ::setenv("WATCHDOG_USEC", "100000", 1);
  asio::io_context ioc;
  systemd_notifier notifier;
  int asked = 0;
  // The owner's liveness check says "stuck" three times; then the test ends the pinger.
  notifier.start_watchdog(ioc.get_executor(), [&] {
    if (++asked == 3) notifier.stop_watchdog();
    return false;
  });
  ioc.run();  // returns once the pinger ended
  EXPECT_EQ(asked, 3);
  EXPECT_FALSE(systemd.has_pending()) << "pinged although the daemon said it was stuck";
}

TEST(systemd_notify, everything_is_a_no_op_without_notify_socket) {
  ::unsetenv("NOTIFY_SOCKET");
  ::setenv("WATCHDOG_USEC", "200000", 1);
  systemd_notifier notifier;
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.watchdog_timeout());
  EXPECT_FALSE(notifier.notify("READY=1"));
  notifier.ready();
  asio::io_context ioc;
  notifier.start_watchdog(ioc.get_executor());
  EXPECT_EQ(ioc.run(), 0u);  // no pinger was started
  ::unsetenv("WATCHDOG_USEC");
}

TEST(systemd_notify, watchdog_off_when_systemd_did_not_ask) {
  fake_systemd systemd;
  ::unsetenv("WATCHDOG_USEC");
  systemd_notifier notifier;
  EXPECT_TRUE(notifier.enabled());
  EXPECT_FALSE(notifier.watchdog_timeout());
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  EXPECT_FALSE(notifier.watchdog_timeout());
  ::unsetenv("WATCHDOG_PID");
}

}  // namespace
}  // namespace vtsync::daemon
