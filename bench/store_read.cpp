// Store read throughput: every clip's frames in training order (sharding plan, one hyperslab read per
// clip, widened to float32) vs the same file read sequentially in one pass. Both from the page cache
// (the file was just written), so this measures the store's own overhead, not the disk.
//   bench_store_read [--dim 1152] [--clips 400] [--dtype f16|f32] [--out bench/results/store_read.json]
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "prospect/core/rng.h"
#include "prospect/data/shard.h"
#include "prospect/data/store.h"

using namespace prospect;
using clk = std::chrono::steady_clock;

static double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

int main(int argc, char** argv) {
  int64_t dim = 1152, clips = 400;
  std::string dtype = "f16";
  std::string out = std::string(PROSPECT_SOURCE_DIR) + "/bench/results/store_read.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--dim") dim = std::stoll(argv[i + 1]);
    else if (k == "--clips") clips = std::stoll(argv[i + 1]);
    else if (k == "--dtype") dtype = argv[i + 1];
    else if (k == "--out") out = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--dim D] [--clips C] [--dtype f16|f32] [--out F.json]\n", argv[0]);
      return 2;
    }
  }
  std::string path = (std::filesystem::temp_directory_path() / "prospect_bench_store_read.h5").string();

  // A store shaped like real data: clips of 60-150 frames, 1-3 clips a video.
  Rng rng(1);
  std::vector<double> video_rows;
  {
    StoreWriter w(path, dim, 2.0, "bench", dtype == "f16");
    std::vector<float> rows;
    int64_t video = -1, left_in_video = 0;
    for (int64_t c = 0; c < clips; ++c) {
      if (left_in_video == 0) {
        ++video;
        left_in_video = 1 + static_cast<int64_t>(rng.below(3));
        video_rows.push_back(0);
      }
      --left_in_video;
      int64_t n = 60 + static_cast<int64_t>(rng.below(91));
      rows.resize(n * dim);
      for (auto& x : rows) x = static_cast<float>(rng.uniform() - 0.5);
      Clip clip;
      clip.video_uid = fmt::format("v{}", video);
      clip.start_frame_idx = c * 1000;
      clip.end_frame_idx = clip.start_frame_idx + n - 1;
      w.add_clip(clip, rows.data(), n);
      video_rows.back() += static_cast<double>(n);
    }
    w.close();
  }
  Store store(path);
  const size_t elem = store.info().fp16 ? 2 : 4;
  const double stored_bytes = static_cast<double>(store.info().num_rows) * dim * elem;
  std::vector<int64_t> clip_video(store.num_clips());
  for (int64_t c = 0; c < store.num_clips(); ++c) clip_video[c] = store.clip_video(c);
  ShardPlan plan = make_shard_plan(clip_video, video_rows, 1, 4, 1234, 0);
  std::vector<int64_t> order;
  for (auto& mb : plan.micro_batches[0])
    for (int64_t c : mb) order.push_back(c);
  order.resize(static_cast<size_t>(store.num_clips()));  // padding (none with one rank) left out

  std::vector<float> buf(static_cast<size_t>(160 * dim));
  std::vector<float> all(static_cast<size_t>(store.info().num_rows * dim));
  double best_store = 1e30, best_seq = 1e30, best_one = 1e30;
  double checksum = 0;
  for (int rep = 0; rep < 10; ++rep) {
    auto t0 = clk::now();
    for (int64_t c : order) {
      store.read_clip(c, buf.data());
      checksum += buf[0];
    }
    best_store = std::min(best_store, seconds_since(t0));

    auto t2 = clk::now();
    store.read_rows(0, store.info().num_rows, all.data());
    checksum += all[0];
    best_one = std::min(best_one, seconds_since(t2));

    auto t1 = clk::now();
    FILE* f = std::fopen(path.c_str(), "rb");
    std::vector<char> block(8 << 20);
    size_t total = 0, got;
    while ((got = std::fread(block.data(), 1, block.size(), f)) > 0) {
      total += got;
      checksum += block[0];
    }
    std::fclose(f);
    best_seq = std::min(best_seq, seconds_since(t1) * stored_bytes / static_cast<double>(total));
  }
  double store_mbs = stored_bytes / best_store / 1e6, one_mbs = stored_bytes / best_one / 1e6,
         seq_mbs = stored_bytes / best_seq / 1e6;
  nlohmann::json j = {{"benchmark", "store_read"},
                      {"dim", dim},
                      {"dtype", dtype},
                      {"clips", store.num_clips()},
                      {"rows", store.info().num_rows},
                      {"stored_mb", stored_bytes / 1e6},
                      {"training_order_mb_per_s", store_mbs},
                      {"sequential_mb_per_s", seq_mbs},
                      {"ratio", store_mbs / seq_mbs},
                      {"one_store_read_mb_per_s", one_mbs},
                      {"direct_reads", store.direct_reads()},
                      {"note", "ratio: per-clip reads in training order (Store::read_clip, widened to float32) vs "
                               "one sequential fread of the file (no HDF5, no widening); one_store_read: all rows "
                               "in one Store::read_rows call; page cache warm for all"},
                      {"checksum", checksum}};
  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  std::ofstream(out) << j.dump(2) << "\n";
  std::printf("store_read: %s %lld clips, %.1f MB: training order %.0f MB/s, sequential file read %.0f MB/s, "
              "ratio %.2f (one store read of all rows %.0f MB/s) -> %s\n",
              dtype.c_str(), (long long)store.num_clips(), stored_bytes / 1e6, store_mbs, seq_mbs, store_mbs / seq_mbs,
              one_mbs, out.c_str());
  std::filesystem::remove(path);
  return 0;
}
