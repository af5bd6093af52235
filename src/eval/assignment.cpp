// Min-cost full bipartite matching by successive shortest paths: source -> rows -> columns -> sink,
// unit capacities; each augmentation adds one row at the least extra cost (Dijkstra on reduced costs
// with Johnson potentials), so after n_rows augmentations the matching is full and of least total
// cost. Costs are (primary, secondary) pairs ordered lexicographically; pairs add component-wise, so
// the potentials argument holds unchanged and everything stays exact.
//
// The graph falls apart into connected components (a row only reaches the columns near it), each
// solved on its own: the optimum of the whole is the union of the components' optima.
#include "prospect/eval/assignment.h"

#include <algorithm>
#include <numeric>
#include <queue>
#include <utility>

#include "prospect/core/error.h"

namespace prospect::eval {

namespace {

bool operator<(const PairCost& a, const PairCost& b) {
  return a.primary != b.primary ? a.primary < b.primary : a.secondary < b.secondary;
}
PairCost operator+(const PairCost& a, const PairCost& b) { return {a.primary + b.primary, a.secondary + b.secondary}; }
PairCost operator-(const PairCost& a, const PairCost& b) { return {a.primary - b.primary, a.secondary - b.secondary}; }

struct Arc {
  int to;
  int cap;
  PairCost cost;
};

// One component: rows 0..n-1, columns 0..m-1 (local indices), every row has at least one edge.
// Returns the local column of every row; false when no full matching exists.
bool solve_component(int n, int m, const std::vector<AssignmentEdge>& edges, std::vector<int>& col_of_row) {
  // nodes: 0 source, 1..n rows, n+1..n+m columns, n+m+1 sink
  const int S = 0, T = n + m + 1, V = n + m + 2;
  std::vector<Arc> arcs;
  std::vector<std::vector<int>> adj(V);
  auto add = [&](int a, int b, PairCost cost) {
    adj[a].push_back(static_cast<int>(arcs.size()));
    arcs.push_back({b, 1, cost});
    adj[b].push_back(static_cast<int>(arcs.size()));
    arcs.push_back({a, 0, PairCost{} - cost});
  };
  for (int r = 0; r < n; ++r) add(S, 1 + r, {});
  for (int c = 0; c < m; ++c) add(1 + n + c, T, {});
  for (const auto& e : edges) add(1 + e.row, 1 + n + e.col, e.cost);

  // Initial potentials: shortest distances in the initial graph, a DAG source -> rows -> columns -> sink.
  std::vector<PairCost> h(V);
  std::vector<char> reach(V, 0);
  reach[S] = 1;
  for (int r = 0; r < n; ++r) reach[1 + r] = 1;
  for (const auto& e : edges) {
    int c = 1 + n + e.col;
    if (!reach[c] || e.cost < h[c]) h[c] = e.cost, reach[c] = 1;
  }
  for (int c = 0; c < m; ++c)
    if (reach[1 + n + c] && (!reach[T] || h[1 + n + c] < h[T])) h[T] = h[1 + n + c], reach[T] = 1;

  using Item = std::pair<PairCost, int>;
  auto later = [](const Item& a, const Item& b) { return b.first < a.first; };
  for (int step = 0; step < n; ++step) {
    std::vector<PairCost> dist(V);
    std::vector<char> seen(V, 0), done(V, 0);
    std::vector<int> via(V, -1);
    std::priority_queue<Item, std::vector<Item>, decltype(later)> heap(later);
    seen[S] = 1;
    heap.push({dist[S], S});
    while (!heap.empty()) {
      auto [d, a] = heap.top();
      heap.pop();
      if (done[a] || dist[a] < d || d < dist[a]) continue;  // a stale entry
      done[a] = 1;
      for (int id : adj[a]) {
        const Arc& arc = arcs[id];
        if (arc.cap <= 0 || !reach[arc.to] || done[arc.to]) continue;
        PairCost nd = d + arc.cost + h[a] - h[arc.to];  // reduced cost >= 0
        if (!seen[arc.to] || nd < dist[arc.to]) {
          seen[arc.to] = 1;
          dist[arc.to] = nd;
          via[arc.to] = id;
          heap.push({nd, arc.to});
        }
      }
    }
    if (!done[T]) return false;
    for (int v = 0; v < V; ++v)
      if (done[v]) h[v] = h[v] + dist[v];
    for (int v = T; v != S; v = arcs[via[v] ^ 1].to) {
      arcs[via[v]].cap -= 1;
      arcs[via[v] ^ 1].cap += 1;
    }
  }
  col_of_row.assign(n, -1);
  for (int r = 0; r < n; ++r)
    for (int id : adj[1 + r])
      if (id % 2 == 0 && arcs[id].to > n && arcs[id].to <= n + m && arcs[id].cap == 0) col_of_row[r] = arcs[id].to - 1 - n;
  return true;
}

int find_root(std::vector<int>& parent, int x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

}  // namespace

std::vector<int> min_cost_full_matching(int n_rows, int n_cols, const std::vector<AssignmentEdge>& edges) {
  std::vector<int> parent(n_rows + n_cols);
  std::iota(parent.begin(), parent.end(), 0);
  std::vector<char> has_edge(n_rows, 0);
  for (const auto& e : edges) {
    if (e.row < 0 || e.row >= n_rows || e.col < 0 || e.col >= n_cols)
      fail("assignment: edge ({}, {}) outside {} rows x {} columns", e.row, e.col, n_rows, n_cols);
    has_edge[e.row] = 1;
    parent[find_root(parent, e.row)] = find_root(parent, n_rows + e.col);
  }
  for (int r = 0; r < n_rows; ++r)
    if (!has_edge[r]) fail("assignment: row {} has no edge, so no matching covers every row", r);

  // Components in order of their first row; local indices in order of appearance.
  std::vector<int> comp_of_root(n_rows + n_cols, -1), local(n_rows + n_cols, -1);
  struct Component {
    std::vector<int> rows, cols;
    std::vector<AssignmentEdge> edges;
  };
  std::vector<Component> comps;
  auto comp = [&](int node) -> Component& {
    int root = find_root(parent, node);
    if (comp_of_root[root] < 0) comp_of_root[root] = static_cast<int>(comps.size()), comps.emplace_back();
    return comps[comp_of_root[root]];
  };
  for (int r = 0; r < n_rows; ++r) {
    Component& c = comp(r);
    local[r] = static_cast<int>(c.rows.size());
    c.rows.push_back(r);
  }
  for (const auto& e : edges) {
    Component& c = comp(e.row);
    int cn = n_rows + e.col;
    if (local[cn] < 0) local[cn] = static_cast<int>(c.cols.size()), c.cols.push_back(e.col);
    c.edges.push_back({local[e.row], local[cn], e.cost});
  }

  std::vector<int> col_of_row(n_rows, -1), part;
  for (const Component& c : comps) {
    if (!solve_component(static_cast<int>(c.rows.size()), static_cast<int>(c.cols.size()), c.edges, part))
      fail("assignment: rows {}..{} reach fewer distinct columns than there are rows, so no matching covers every row",
           c.rows.front(), c.rows.back());
    for (size_t k = 0; k < c.rows.size(); ++k) col_of_row[c.rows[k]] = c.cols[part[k]];
  }
  return col_of_row;
}

}  // namespace prospect::eval
