def test_addition():
    assert 1 + 1 == 2


def test_multiplication():
    assert 6 * 7 == 42
