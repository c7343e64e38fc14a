#include "results/text.hpp"

namespace cctune::results {

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
      out += lead < 0x20 || lead == 0x7f ? '?' : static_cast<char>(lead);
      ++i;
      continue;
    }
    // The length a lead byte announces, and the smallest code point that needs it (shorter encodings
    // of the same character are invalid: "overlong").
    std::size_t length = 0;
    char32_t code = 0, smallest = 0;
    if ((lead & 0xe0) == 0xc0) {
      length = 2, code = lead & 0x1f, smallest = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code = lead & 0x0f, smallest = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code = lead & 0x07, smallest = 0x10000;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      valid = (byte(i + k) & 0xc0) == 0x80;
      code = (code << 6) | (byte(i + k) & 0x3f);
    }
    valid = valid && code >= smallest && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    // C1 controls (U+0080 to U+009F): a terminal may take U+009B for the escape that starts a sequence.
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    if (code >= 0x80 && code <= 0x9f) {
      out += '?';
      i += length;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

}  // namespace cctune::results
