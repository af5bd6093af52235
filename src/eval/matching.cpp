// Min-cost maximum matching on the bipartite graph reference x prediction, by successive shortest
// paths. Each augmentation adds one pair at the least extra cost, so the flow at the end has the
// largest number of pairs and, for that number, the least total cost (no bonus constant needed).
//
// Pair cost = |p - r| * K - i * j. With K = 10^6 this is SPEC §8's objective; K grows past 10^6 only
// when sum(i * j) could reach it (hundreds of events in a clip), so that the smallest total |p - r|
// still comes first.
#include "prospect/eval/matching.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "prospect/core/error.h"

namespace prospect::eval {

MatchWindow match_window(double fps, double before_s, double after_s) {
  if (!(fps > 0) || !(before_s >= 0) || !(after_s >= 0) || !std::isfinite(fps * (before_s + after_s)))
    fail("match window: need fps > 0 and windows >= 0, got fps {} before {} s after {} s", fps, before_s, after_s);
  // "rounded down"; the epsilon keeps 0.29 s * 100 fps (28.999999...) at 29 frames
  auto frames = [&](double s) { return static_cast<int64_t>(std::floor(s * fps + 1e-9)); };
  return {frames(before_s), frames(after_s)};
}

namespace {

// 1-based time-order rank of every position: by frame, ties by position.
std::vector<int64_t> time_ranks(const std::vector<int64_t>& frames) {
  std::vector<int> order(frames.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return frames[a] < frames[b]; });
  std::vector<int64_t> rank(frames.size());
  for (size_t k = 0; k < order.size(); ++k) rank[order[k]] = static_cast<int64_t>(k) + 1;
  return rank;
}

// A pair allowed by the window (and the filter), with its cost.
struct Arc {
  int ref, pred;
  int64_t cost;
};

struct Edge {
  int to;
  int cap;
  int64_t cost;
};

// Min-cost maximum matching of n references and m predictions joined by arcs (local indices).
std::vector<MatchPair> solve(int n, int m, const std::vector<Arc>& arcs) {
  // nodes: 0 source, 1..n references, n+1..n+m predictions, n+m+1 sink
  const int S = 0, T = n + m + 1, V = n + m + 2;
  std::vector<Edge> edges;
  std::vector<std::vector<int>> adj(V);
  auto add = [&](int a, int b, int64_t cost) {
    adj[a].push_back(static_cast<int>(edges.size()));
    edges.push_back({b, 1, cost});
    adj[b].push_back(static_cast<int>(edges.size()));
    edges.push_back({a, 0, -cost});
  };
  for (int i = 0; i < n; ++i) add(S, 1 + i, 0);
  for (int j = 0; j < m; ++j) add(1 + n + j, T, 0);
  for (const Arc& a : arcs) add(1 + a.ref, 1 + n + a.pred, a.cost);

  // Successive shortest paths with Johnson potentials (Dijkstra on reduced costs, O(V^2) a path).
  // Initial potentials: shortest distances in the initial graph, a DAG S -> refs -> preds -> T.
  const int64_t kInf = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> h(V, kInf);
  h[S] = 0;
  for (int i = 0; i < n; ++i) h[1 + i] = 0;
  for (const Arc& a : arcs) h[1 + n + a.pred] = std::min(h[1 + n + a.pred], a.cost);
  for (int j = 0; j < m; ++j)
    if (h[1 + n + j] != kInf) h[T] = std::min(h[T], h[1 + n + j]);
  // A node unreachable from S stays so (augmenting only adds edges between reachable nodes).
  for (;;) {
    std::vector<int64_t> dist(V, kInf);
    std::vector<int> via(V, -1);
    std::vector<char> done(V, 0);
    dist[S] = 0;
    for (;;) {
      int a = -1;
      for (int v = 0; v < V; ++v)
        if (!done[v] && dist[v] != kInf && (a < 0 || dist[v] < dist[a])) a = v;
      if (a < 0) break;
      done[a] = 1;
      for (int e : adj[a]) {
        const Edge& ed = edges[e];
        if (ed.cap <= 0 || h[ed.to] == kInf) continue;
        int64_t nd = dist[a] + ed.cost + h[a] - h[ed.to];  // reduced cost >= 0
        if (nd < dist[ed.to]) {
          dist[ed.to] = nd;
          via[ed.to] = e;
        }
      }
    }
    if (dist[T] == kInf) break;
    for (int v = 0; v < V; ++v)
      if (dist[v] != kInf) h[v] += dist[v];
    for (int v = T; v != S; v = edges[via[v] ^ 1].to) {
      edges[via[v]].cap -= 1;
      edges[via[v] ^ 1].cap += 1;
    }
  }

  std::vector<MatchPair> pairs;
  for (int i = 0; i < n; ++i)
    for (int e : adj[1 + i])
      if (e % 2 == 0 && edges[e].to > n && edges[e].to <= n + m && edges[e].cap == 0)
        pairs.push_back({i, edges[e].to - 1 - n});
  return pairs;
}

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace

std::vector<MatchPair> match_events(const std::vector<int64_t>& ref_frames,
                                    const std::vector<int64_t>& pred_frames, MatchWindow w,
                                    const PairFilter& allowed) {
  const int n = static_cast<int>(ref_frames.size()), m = static_cast<int>(pred_frames.size());
  if (n == 0 || m == 0) return {};
  auto ri = time_ranks(ref_frames), pj = time_ranks(pred_frames);

  // K: larger than any possible sum(i * j) (rearrangement bound), and at least 10^6.
  int64_t bound = 0;
  for (int64_t k = 0; k < std::min(n, m); ++k) bound += (n - k) * static_cast<int64_t>(m - k);
  const int64_t K = std::max<int64_t>(1000000, bound + 1);

  std::vector<Arc> arcs;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < m; ++j) {
      int64_t r = ref_frames[i], p = pred_frames[j];
      if (p < r - w.before || p > r + w.after) continue;
      if (allowed && !allowed(i, j)) continue;
      arcs.push_back({i, j, std::llabs(p - r) * K - ri[i] * pj[j]});
    }
  }

  // The windows cut a long clip into independent groups of events: the best matching is the union
  // of each connected component's best matching (costs and counts add up), and each is small.
  std::vector<int> parent(n + m);
  std::iota(parent.begin(), parent.end(), 0);
  for (const Arc& a : arcs) parent[find_root(parent, a.ref)] = find_root(parent, n + a.pred);
  std::vector<int> local(n + m, -1), comp_of_root(n + m, -1);
  struct Component {
    std::vector<int> refs, preds;
    std::vector<Arc> arcs;
  };
  std::vector<Component> comps;
  auto comp = [&](int node) -> Component& {
    int root = find_root(parent, node);
    if (comp_of_root[root] < 0) {
      comp_of_root[root] = static_cast<int>(comps.size());
      comps.emplace_back();
    }
    return comps[comp_of_root[root]];
  };
  for (const Arc& a : arcs) {
    Component& c = comp(a.ref);
    if (local[a.ref] < 0) local[a.ref] = static_cast<int>(c.refs.size()), c.refs.push_back(a.ref);
    if (local[n + a.pred] < 0) local[n + a.pred] = static_cast<int>(c.preds.size()), c.preds.push_back(a.pred);
    c.arcs.push_back({local[a.ref], local[n + a.pred], a.cost});
  }

  std::vector<MatchPair> pairs;
  for (const Component& c : comps)
    for (const MatchPair& p : solve(static_cast<int>(c.refs.size()), static_cast<int>(c.preds.size()), c.arcs))
      pairs.push_back({c.refs[p.ref], c.preds[p.pred]});
  std::sort(pairs.begin(), pairs.end(), [&](const MatchPair& a, const MatchPair& b) { return ri[a.ref] < ri[b.ref]; });
  return pairs;
}

}  // namespace prospect::eval
