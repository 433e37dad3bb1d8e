// man/hrvq.1 must not fall behind the CLI: every command the binary's --help lists has
// its own ".SS "hrvq COMMAND"" section, and every option (long and short) and every
// default value that a command's --help shows appears in that command's section.
// Global options must appear in the GLOBAL OPTIONS section.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <future>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Help {
  std::string text;
  int status = -1;
};

Help help_of(const std::string& command) {
  const std::string cmd = std::string("\"") + HRVQ_BINARY + "\" " + command + (command.empty() ? "" : " ") +
                          "--help 2>&1";
  Help h;
  std::FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return h;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) h.text.append(buf.data(), n);
  h.status = pclose(pipe);
  return h;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// One option line of a command's help, reduced to its name column
// ("  -j,--jobs INT:INT in [1 - 256]=1      Inputs..." -> "-j,--jobs INT:INT in [1 - 256]=1").
struct OptionLine {
  std::vector<std::string> longs, shorts;
  std::string default_value;  // after '=' in the name column, if shown
};

struct ParsedHelp {
  std::vector<OptionLine> options;
  std::vector<std::string> subcommands;
};

ParsedHelp parse_help(const std::string& text) {
  ParsedHelp p;
  enum { None, Options, Subcommands } block = None;
  static const std::regex long_re(R"((^|[^A-Za-z0-9-])(--[A-Za-z0-9][A-Za-z0-9-]*))");
  static const std::regex short_re(R"((^|[ ,])(-[A-Za-z0-9])(?=[ ,]|$))");
  static const std::regex default_re(R"(=(\S+)$)");
  for (const std::string& line : lines_of(text)) {
    if (line.empty()) {
      block = None;
      continue;
    }
    if (line == "Options:") {
      block = Options;
      continue;
    }
    if (line == "Subcommands:") {
      block = Subcommands;
      continue;
    }
    if (block == Options && line.rfind("  -", 0) == 0) {
      std::string name = line.substr(2);
      const size_t gap = name.find("  ");
      if (gap != std::string::npos) name = name.substr(0, gap);
      OptionLine o;
      for (std::sregex_iterator it(name.begin(), name.end(), long_re), end; it != end; ++it)
        o.longs.push_back((*it)[2]);
      // Short options come before the first space: "-j,--jobs INT".
      const std::string names = name.substr(0, name.find(' '));
      for (std::sregex_iterator it(names.begin(), names.end(), short_re), end; it != end; ++it)
        o.shorts.push_back((*it)[2]);
      std::smatch m;
      if (std::regex_search(name, m, default_re)) o.default_value = m[1];
      p.options.push_back(o);
    } else if (block == Subcommands && line.size() > 2 && line.rfind("  ", 0) == 0 && line[2] != ' ') {
      p.subcommands.push_back(line.substr(2, line.find(' ', 2) - 2));
    }
  }
  return p;
}

// The page's source with roff escapes that split words undone: "\-" -> "-", font
// changes and zero-width escapes removed.
std::string man_source() {
  std::ifstream in(std::string(HRVQ_SOURCE_DIR) + "/man/hrvq.1");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  s = std::regex_replace(s, std::regex(R"(\\f(\[[^\]]*\]|\(..|.))"), "");
  s = std::regex_replace(s, std::regex(R"(\\[&%])"), "");
  s = std::regex_replace(s, std::regex(R"(\\-)"), "-");
  return s;
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

// `word` occurs in `text` not as part of a longer option or word.
bool mentions(const std::string& text, const std::string& word) {
  for (size_t pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) {
    const bool left = pos == 0 || !word_char(text[pos - 1]);
    const size_t end = pos + word.size();
    // A trailing '.' or ',' ends a sentence; "--resume." still names --resume.
    const bool right = end == text.size() || !word_char(text[end]);
    if (left && right) return true;
  }
  return false;
}

// Text of the section whose heading line (".SS" or ".SH", quotes removed) is `title`,
// up to the next heading; empty if there is none.
std::string section(const std::string& page, const std::string& title) {
  std::string out;
  bool inside = false;
  for (const std::string& line : lines_of(page)) {
    const bool heading = line.rfind(".SS", 0) == 0 || line.rfind(".SH", 0) == 0;
    if (heading) {
      if (inside) break;
      std::string t = line.substr(3);
      t.erase(std::remove(t.begin(), t.end(), '"'), t.end());
      const size_t first = t.find_first_not_of(' ');
      t = first == std::string::npos ? "" : t.substr(first);
      while (!t.empty() && t.back() == ' ') t.pop_back();
      inside = t == title;
      if (inside) out += line + "\n";
      continue;
    }
    if (inside) out += line + "\n";
  }
  return out;
}

void check_section(const std::string& what, const std::string& text, const ParsedHelp& help, bool with_help_flag) {
  for (const auto& o : help.options) {
    for (const auto& name : o.longs) {
      if (name == "--help" && !with_help_flag) continue;
      EXPECT_TRUE(mentions(text, name)) << "man/hrvq.1: " << what << " does not document " << name;
    }
    for (const auto& name : o.shorts) {
      if (name == "-h" && !with_help_flag) continue;
      EXPECT_TRUE(mentions(text, name)) << "man/hrvq.1: " << what << " does not document " << name;
    }
    if (!o.default_value.empty() && !o.longs.empty()) {
      EXPECT_TRUE(mentions(text, o.default_value))
          << "man/hrvq.1: " << what << " does not give " << o.longs.front() << "'s default " << o.default_value;
    }
  }
}

TEST(CliMan, EveryCommandAndOptionIsDocumented) {
  const std::string page = man_source();
  ASSERT_FALSE(page.empty()) << "cannot read " << HRVQ_SOURCE_DIR << "/man/hrvq.1";

  const Help top = help_of("");
  ASSERT_EQ(top.status, 0) << top.text;
  const ParsedHelp top_parsed = parse_help(top.text);
  ASSERT_FALSE(top_parsed.subcommands.empty()) << "no subcommands found in:\n" << top.text;
  const std::string global = section(page, "GLOBAL OPTIONS");
  ASSERT_FALSE(global.empty()) << "man/hrvq.1 has no GLOBAL OPTIONS section";
  check_section("GLOBAL OPTIONS", global, top_parsed, true);

  // The command tree level by level ("train", "eval", ... then "eval recon", ...). Each
  // level's --help runs are started together: the binary takes a while to load.
  size_t visited = 0;
  std::vector<std::string> level = top_parsed.subcommands;
  while (!level.empty()) {
    std::vector<std::future<Help>> helps;
    for (const auto& command : level) helps.push_back(std::async(std::launch::async, help_of, command));
    std::vector<std::string> next;
    for (size_t i = 0; i < level.size(); ++i) {
      const std::string& command = level[i];
      ++visited;
      const Help h = helps[i].get();
      EXPECT_EQ(h.status, 0) << "hrvq " << command << " --help:\n" << h.text;
      if (h.status != 0) continue;
      const ParsedHelp parsed = parse_help(h.text);
      const std::string title = "hrvq " + command;
      EXPECT_TRUE(mentions(page, command.substr(command.rfind(' ') + 1))) << "man/hrvq.1 never names " << command;
      const std::string text = section(page, title);
      if (text.empty()) {
        ADD_FAILURE() << "man/hrvq.1 has no section .SS \"" << title << "\"";
        continue;
      }
      check_section(title, text, parsed, false);
      for (const auto& s : parsed.subcommands) {
        EXPECT_TRUE(mentions(text, s)) << "man/hrvq.1: " << title << " does not list its subcommand " << s;
        next.push_back(command + " " + s);
      }
    }
    level = next;
  }
  EXPECT_GE(visited, 11u) << "fewer commands than expected: the help parser may be broken";
}

}  // namespace
