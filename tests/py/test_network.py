"""The generated grid, its edge table and the per-worker parts."""

import pytest

from vpslog.network import grid


def test_grid_has_two_directed_edges_per_neighbour_pair_with_shared_road_facts():
    net = grid(3, 4, seed=1)
    assert net.n_edges == 2 * (3 * 3 + 4 * 2)
    table = net.edge_table()
    assert table["edge_id"] == list(range(net.n_edges))
    for e in range(0, net.n_edges, 2):  # e and e+1 are the two directions of one road
        assert (net.from_node[e], net.to_node[e]) == (net.to_node[e + 1], net.from_node[e + 1])
        assert net.length_m[e] == net.length_m[e + 1] and net.capacity[e] == net.capacity[e + 1]
    assert all(100 <= m <= 400 for m in net.length_m)
    assert all(c >= 2 for c in net.capacity)
    assert all(0 < t < 60 for t in net.free_flow_s)


def test_same_seed_same_network():
    assert grid(5, 5, seed=3) == grid(5, 5, seed=3)
    assert grid(5, 5, seed=3) != grid(5, 5, seed=4)


def test_edge_ids_must_fit_uint16():
    grid(128, 128, seed=1)  # 65,024 edges: fits
    with pytest.raises(ValueError, match="uint16"):
        grid(129, 129, seed=1)
    with pytest.raises(ValueError, match="at least 2x2"):
        grid(1, 5, seed=1)


@pytest.mark.parametrize("workers", [1, 2, 3, 5])
def test_parts_are_disjoint_and_successors_stay_inside_without_u_turns(workers):
    net = grid(6, 10, seed=2)
    parts = [net.part_edges(w, workers) for w in range(workers)]
    seen = set()
    for edges in parts:
        assert edges and not seen & set(edges)
        seen |= set(edges)
        nxt = net.successors(edges)
        for e, options in nxt.items():
            for n in options:
                assert n in edges
                assert net.from_node[n] == net.to_node[e]
                assert net.to_node[n] != net.from_node[e]
    if workers == 1:
        assert seen == set(range(net.n_edges))
