"""tools/measure/far_levers.py (issue 24): the threshold at a FAR target and the test of
whether one threshold meets both clean targets, on made-up distances."""

import numpy as np

from tools.measure import far_levers as fl


def pairs(lfw_same: list[bool], deepface_same: list[bool]) -> fl.Pairs:
    n = len(lfw_same) + len(deepface_same)
    return fl.Pairs(
        a=[f"x{i}" for i in range(n)],
        b=[f"y{i}" for i in range(n)],
        same=np.array(lfw_same + deepface_same),
        lfw=np.array([True] * len(lfw_same) + [False] * len(deepface_same)),
        fold=np.array([1] * len(lfw_same) + [0] * len(deepface_same)),
        half=np.zeros(n, int),
    )


def test_the_fitted_threshold_lets_through_at_most_the_target_share_of_impostors():
    # 2,000 impostors at 1.0 ... 2.999, genuine pairs below: FAR 0.1% allows two of them.
    impostor = 1.0 + np.arange(2000) / 1000
    d = np.concatenate([np.linspace(0.1, 0.9, 100), impostor])
    same = np.array([True] * 100 + [False] * 2000)
    t = fl.fit_threshold(d, same, np.ones(len(d), bool))
    assert t == 1.001  # the second impostor; the third (1.002) would be 0.15%
    assert ((d <= t) & ~same).sum() == 2


def test_both_targets_at_one_threshold_only_when_some_threshold_reaches_both():
    # lfw-dev: 1,000 genuine pairs at 0.0-0.999, 1,000 impostors far away; deepface: 1,000
    # impostors, two of them near (0.5 and 0.6).
    genuine = np.arange(1000) / 1000
    lfw_impostor = np.full(1000, 5.0)
    deepface_impostor = np.concatenate([[0.5, 0.6], np.full(998, 5.0)])
    p = pairs([True] * 1000 + [False] * 1000, [False] * 1000)
    d = np.concatenate([genuine, lfw_impostor, deepface_impostor])
    every = np.ones(len(d), bool)
    ok, best, lowest = fl.both_reachable(d, p, every)
    # Two false accepts of 2,000 (0.1%) are allowed: every genuine pair accepted.
    assert ok and best == 1.0 and lowest == 2 / 2000
    # A third near impostor: FAR 0.1% needs the threshold under 0.6, where lfw-dev is 80%.
    d[2000 + 2] = 0.4
    ok, best, lowest = fl.both_reachable(d, p, every)
    assert not ok
    assert best == (600 + 1000) / 2000
    assert lowest == 3 / 2000  # lfw-dev's 99.3% needs 0.986: all three near impostors in


def test_a_fusion_with_weight_zero_is_the_first_distance_rescaled():
    rng = np.random.default_rng(0)
    first, second = rng.random(50), rng.random(50)
    same = np.arange(50) < 10
    z = fl.fused([first, second], 0.0, np.ones(50, bool), same)
    assert np.array_equal(np.argsort(z), np.argsort(first))
    assert abs(z[~same].mean()) < 1e-9 and abs(z[~same].std() - 1) < 1e-9
