// Min-cost full bipartite matching on a sparse graph: every row is matched to a distinct column
// through one of its edges, at the least total cost (what scipy's min_weight_full_bipartite_matching
// computes, with our own exact integer costs). ProAssist's event matching (proassist_match.h) is one.
//
// Costs are pairs compared lexicographically: `primary` is the objective, `secondary` breaks ties
// between matchings of equal primary total. Integer arithmetic, so "equal" means equal, and a tie
// rule stated on the secondary cost holds exactly. Every edge given is an edge, whatever its cost
// (a zero or negative cost is an edge like any other).
#pragma once
#include <cstdint>
#include <vector>

namespace prospect::eval {

struct PairCost {
  int64_t primary = 0;
  int64_t secondary = 0;
};

struct AssignmentEdge {
  int row = 0, col = 0;
  PairCost cost;
};

// col_of_row[r] for every row r < n_rows. Error when no matching covers every row (a row without an
// edge, or more rows than the columns they reach). Edges may repeat a (row, col) pair: the cheaper
// counts. Totals must fit in int64 (the caller bounds its costs).
std::vector<int> min_cost_full_matching(int n_rows, int n_cols, const std::vector<AssignmentEdge>& edges);

}  // namespace prospect::eval
