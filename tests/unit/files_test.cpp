// collectives/files: what every reader and writer of cctune rests on (issue 15, items 7, 11 and 16).
#include "collectives/files.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "collectives/error.hpp"
#include "tests/unit/no_hang.hpp"

namespace fs = std::filesystem;
using cctune::files::check_output_file;
using cctune::files::check_output_folder;
using cctune::files::read_regular_file;
using cctune::files::write_file_atomically;

namespace {

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cctune-files-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (mounted_) ::umount(dir_.c_str());
    fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string message_of(const std::function<void()>& call) {
    try {
      call();
    } catch (const cctune::UsageError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no UsageError";
    return {};
  }
  // A 64 KiB file system of its own, to fill (root only; skipped elsewhere).
  bool mount_tiny() {
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=64k") != 0) return false;
    mounted_ = true;
    return true;
  }

  fs::path dir_;
  bool mounted_ = false;
};

}  // namespace

TEST_F(Files, ReadsARegularFileWhole) {
  write_file_atomically(path("a.txt"), "hello\nworld\n");
  EXPECT_EQ(read_regular_file(path("a.txt"), "the profile"), "hello\nworld\n");
}

// Item 7: a FIFO with no writer used to block the reader forever; it is refused at once.
TEST_F(Files, AFifoIsRefusedWithoutBlocking_Item7) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  const std::string message = no_hang::within(
      20, [&] { return message_of([&] { read_regular_file(path("fifo"), "the spec"); }); }, "reading a FIFO");
  EXPECT_NE(message.find("not a regular file"), std::string::npos);
}

TEST_F(Files, DevZeroIsRefusedNotReadForever_Item7) {
  EXPECT_NE(message_of([] { read_regular_file("/dev/zero", "the profile"); }).find("not a regular file"),
            std::string::npos);
}

// Item 22: a directory is called a directory, not an "empty file".
TEST_F(Files, ADirectoryIsCalledADirectory_Item22) {
  const std::string message = message_of([&] { read_regular_file(dir_.string(), "the profile"); });
  EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
}

TEST_F(Files, MissingAndOversizedFilesAreOneLineNamingThem) {
  EXPECT_NE(message_of([&] { read_regular_file(path("none"), "the spec"); }).find(path("none") + ": the spec: no such file"),
            std::string::npos);
  write_file_atomically(path("big"), std::string(2048, 'x'));
  const std::string message = message_of([&] { read_regular_file(path("big"), "the log", 1024); });
  EXPECT_NE(message.find("2048 bytes"), std::string::npos) << message;
}

TEST_F(Files, AnAtomicWriteReplacesTheFileAndKeepsItsMode) {
  write_file_atomically(path("out.json"), "old");
  ::chmod(path("out.json").c_str(), 0640);
  write_file_atomically(path("out.json"), "new");
  EXPECT_EQ(slurp(path("out.json")), "new");
  EXPECT_EQ(fs::status(path("out.json")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  // Nothing else is left in the folder.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

// Items 11 and 16: on a full disk the last complete file survives and no temporary file is left.
TEST_F(Files, AFullDiskKeepsTheOldFileAndLeavesNoTemporary_Items11And16) {
  if (!mount_tiny()) GTEST_SKIP() << "cannot mount a tmpfs here (not root)";
  write_file_atomically(path("out.json"), "{\"complete\": true}\n");
  EXPECT_THROW(write_file_atomically(path("out.json"), std::string(200 * 1024, 'x')), cctune::Error);
  EXPECT_EQ(slurp(path("out.json")), "{\"complete\": true}\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

// Item 5: outputs are checked before any work, with one line each.
TEST_F(Files, OutputChecksRefuseWhatCannotBeWritten_Item5) {
  EXPECT_NE(message_of([] { check_output_file("", "--json"); }).find("empty"), std::string::npos);
  EXPECT_NE(message_of([&] { check_output_file(dir_.string(), "--json"); }).find("is a directory"), std::string::npos);
  EXPECT_NE(message_of([&] { check_output_file(path("no/such/out.json"), "--json"); }).find("does not exist"),
            std::string::npos);
  write_file_atomically(path("file"), "x");
  EXPECT_NE(message_of([&] { check_output_folder(path("file"), "-o"); }).find("not a folder"), std::string::npos);
  EXPECT_NE(message_of([&] { check_output_folder(path("file") + "/sub", "-o"); }).find("not a folder"),
            std::string::npos);
  EXPECT_NO_THROW(check_output_folder(path("new/deeper"), "-o"));
  EXPECT_NO_THROW(check_output_file(path("fresh.json"), "--json"));
  EXPECT_FALSE(fs::exists(path("new")));  // checking makes nothing
}

// The guard of the tests above: a call that blocks ends the test binary with a failure and a message,
// where an assert on std::async's future would hang it (the future's destructor joins the thread).
TEST(NoHang, ABlockedCallEndsTheBinaryFailingInsteadOfHangingIt_Item7) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(no_hang::within(1, [] { std::this_thread::sleep_for(std::chrono::hours(1)); }, "a sleep"),
              testing::ExitedWithCode(1), "a sleep did not return within 1 s");
  EXPECT_EQ(no_hang::within(20, [] { return 42; }), 42);
  EXPECT_THROW(no_hang::within(20, []() -> int { throw std::runtime_error("thrown"); }), std::runtime_error);
}

TEST(JsonDepth, NestingPastTheLimitIsRefusedBracketsInStringsAreNot_DeepNesting) {
  using cctune::files::check_json_depth;
  EXPECT_NO_THROW(check_json_depth(std::string(256, '[') + std::string(256, ']'), 256, "f.json"));
  EXPECT_NO_THROW(check_json_depth(R"({"a": "[[[[{{{{\"[[[[", "b": [{}]})", 3, "f.json"));
  std::string message;
  try {
    check_json_depth("{\"a\": [" + std::string(300, '{') + "]}", 256, "f.json");
  } catch (const cctune::UsageError& e) {
    message = e.what();
  }
  EXPECT_EQ(message, "f.json: JSON nested more than 256 levels deep");
  // An escaped backslash ends the escape: the quote after it closes the string.
  EXPECT_THROW(check_json_depth(R"(["\\", [[]]])", 2, "f.json"), cctune::UsageError);
}
