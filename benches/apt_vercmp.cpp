// Times apt's own Debian version comparator (libapt-pkg's debVS) over the
// version pairs in a file of "A<TAB>B" lines, with the same timing
// method as `benches/version.rs`, and prints ns/compare plus lt/eq/gt counts
// (which must equal debfleet's on the same file).
//
// Build: g++ -O2 -std=c++17 benches/apt_vercmp.cpp -lapt-pkg
// (needs libapt-pkg-dev). Usually run through benches/apt-vercmp.sh.

#include <apt-pkg/debversion.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>
#include <string>
#include <vector>

namespace {

// Keeps the compiler from assuming anything about a value (like
// std::hint::black_box): DoCmpVersion is declared pure, so unused results
// could otherwise be dropped or hoisted.
template <typename T> inline void opaque(T &value) { asm volatile("" : "+r"(value)); }

// One pair, pointing into the file buffer (both strings NUL-terminated
// there too), in file order: the same contiguous layout the Rust bench uses.
struct Pair {
    const char *a, *a_end, *b, *b_end;
};

// Same method as `report` in benches/version.rs: chunks of CHUNK pairs, each
// timed REPEATS times in a row, fastest run per chunk summed.
const size_t CHUNK = 2048;
const int REPEATS = 25;

template <typename F> double chunked_min_ns(const std::vector<Pair> &pairs, F cmp) {
    double total = 0;
    long sink = 0;
    for (size_t first = 0; first < pairs.size(); first += CHUNK) {
        size_t last = std::min(pairs.size(), first + CHUNK);
        double best = 1e300;
        for (int r = 0; r < REPEATS; r++) {
            auto start = std::chrono::steady_clock::now();
            for (size_t i = first; i < last; i++) {
                const Pair *q = &pairs[i];
                opaque(q);
                sink += cmp(*q) < 0 ? -1 : 0;
            }
            auto end = std::chrono::steady_clock::now();
            double ns = std::chrono::duration<double, std::nano>(end - start).count();
            if (ns < best) best = ns;
        }
        total += best;
    }
    opaque(sink);
    return total / static_cast<double>(pairs.size());
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s PAIRS.tsv\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot open %s\n", argv[1]);
        return 2;
    }
    std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<Pair> pairs;
    size_t pos = 0;
    while (pos < buf.size()) {
        size_t nl = buf.find('\n', pos);
        if (nl == std::string::npos) nl = buf.size();
        size_t tab = buf.find('\t', pos);
        if (tab == std::string::npos || tab > nl) {
            std::fprintf(stderr, "line without a tab at byte %zu\n", pos);
            return 2;
        }
        buf[tab] = '\0';
        if (nl < buf.size()) buf[nl] = '\0';
        const char *base = buf.data();
        pairs.push_back(Pair{base + pos, base + tab, base + tab + 1, base + nl});
        pos = nl + 1;
    }
    if (pairs.empty()) {
        std::fprintf(stderr, "no pairs in %s\n", argv[1]);
        return 2;
    }

    long lt = 0, eq = 0, gt = 0;
    for (const Pair &p : pairs) {
        int r = debVS.DoCmpVersion(p.a, p.a_end, p.b, p.b_end);
        if (r < 0) lt++;
        else if (r == 0) eq++;
        else gt++;
    }

    // With lengths (like Rust's &str), and the const char* overload apt uses
    // on cache strings, which adds two strlen calls.
    double with_len = chunked_min_ns(pairs, [](const Pair &p) {
        return debVS.DoCmpVersion(p.a, p.a_end, p.b, p.b_end);
    });
    double with_strlen = chunked_min_ns(pairs, [](const Pair &p) {
        return debVS.CmpVersion(p.a, p.b);
    });
    std::printf("apt DoCmpVersion(with lengths): %.2f ns/compare (sum of per-chunk minimums, "
                "%zu-pair chunks x %d, %zu pairs; lt=%ld eq=%ld gt=%ld)\n",
                with_len, CHUNK, REPEATS, pairs.size(), lt, eq, gt);
    std::printf("apt CmpVersion(const char*, const char*): %.2f ns/compare\n", with_strlen);
    return 0;
}
